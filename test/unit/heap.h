/*
 * heap.h
 *		How much heap the code under test holds at most, measured through
 *		AddressSanitizer's allocation hooks (scripts/unit.sh always builds
 *		with it).  Every malloc of the process is seen, libzip's and
 *		libxml2's included, so a test can check that a hostile input was
 *		refused without ever holding more than a bound.
 */
#ifndef CAR_HEAP_H
#define CAR_HEAP_H

#include <stddef.h>

/* From <sanitizer/allocator_interface.h>, which gcc does not install. */
extern int	  __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
														void (*free_hook)(const volatile void *));
extern size_t __sanitizer_get_allocated_size(const volatile void *p);

/* Bytes allocated minus bytes freed since the hooks went in (blocks older than that can make it negative). */
static long long heap_now;
static long long heap_top;

/* ASan calls this after each allocation. */
static void
heap_on_malloc(const volatile void *p, size_t size)
{
	(void) p;
	heap_now += (long long) size;
	if (heap_now > heap_top)
		heap_top = heap_now;
}

/* ASan calls this before each free, while the block's size is still known. */
static void
heap_on_free(const volatile void *p)
{
	heap_now -= (long long) __sanitizer_get_allocated_size(p);
}

/* Start measuring; returns the mark heap_peak_since takes. */
static long long
heap_mark(void)
{
	static int installed;

	if (!installed)
	{
		__sanitizer_install_malloc_and_free_hooks(heap_on_malloc, heap_on_free);
		installed = 1;
	}
	heap_top = heap_now;
	return heap_now;
}

/* Most bytes held at once since the mark, beyond what was held at the mark. */
static size_t
heap_peak_since(long long mark)
{
	return (size_t) (heap_top - mark);
}

#endif
