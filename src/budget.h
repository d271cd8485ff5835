/*
 * budget.h
 *		What the pure readers (csv.c, xlsx.c) share about their limits: why a
 *		reader stopped, and the byte budget each counts its heap against.
 *
 * A reader owns one MemBudget whose limit is a #define of its own, and every
 * malloc, realloc and free it makes goes through these helpers.  An
 * allocation that would take the reader's total past the limit is refused,
 * so no input, however it is crafted, makes a reader hold more than its
 * budget: the reader stops with an error saying so instead of growing the
 * backend's memory.  Sizes are what was asked of malloc (its own rounding is
 * not counted).  No backend calls.
 */
#ifndef CAR_BUDGET_H
#define CAR_BUDGET_H

#include <stdbool.h>
#include <stdlib.h>

/* Why a reader stopped; the backend chooses the SQLSTATE from it. */
typedef enum ReadError
{
	READ_OK,
	READ_MALFORMED, /* not the format it claims to be, damaged or truncated */
	READ_LIMIT,		/* past one of the reader's caps or its byte budget: refused whole */
	READ_NO_MEMORY	/* malloc failed although the budget allowed the allocation */
} ReadError;

typedef struct MemBudget
{
	size_t limit;
	size_t used;
	bool   refused; /* the last failed allocation was refused by the budget, not by malloc */
} MemBudget;

/*
 * Resize p (oldsize bytes; NULL and 0 for a new block) to newsize bytes.
 * Returns NULL, leaving p as it was, when the budget refuses (b->refused is
 * then set) or malloc fails.
 */
static inline void *
budget_realloc(MemBudget *b, void *p, size_t oldsize, size_t newsize)
{
	void *q;

	b->refused = newsize > oldsize && newsize - oldsize > b->limit - b->used;
	if (b->refused)
		return NULL;
	q = realloc(p, newsize);
	if (q != NULL)
		b->used = b->used - oldsize + newsize;
	return q;
}

/* A new block of size bytes, counted; NULL as budget_realloc. */
static inline void *
budget_malloc(MemBudget *b, size_t size)
{
	return budget_realloc(b, NULL, 0, size);
}

/* Free p, which budget_realloc or budget_malloc made size bytes long. */
static inline void
budget_free(MemBudget *b, void *p, size_t size)
{
	if (p == NULL)
		return;
	free(p);
	b->used -= size;
}

#endif /* CAR_BUDGET_H */
