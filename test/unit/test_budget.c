/* Unit tests of the byte budget the readers count their heap against (src/budget.h). */
#include "tap.h"
#include "budget.h"

int
main(void)
{
	MemBudget b = {100, 0, false};
	char	 *p = budget_malloc(&b, 60);
	char	 *q;

	OK(p != NULL && b.used == 60 && !b.refused, "60 of 100 bytes taken");
	q = budget_malloc(&b, 41);
	OK(q == NULL && b.refused && b.used == 60, "41 more are refused by the budget, nothing counted");
	q = budget_malloc(&b, 40);
	OK(q != NULL && !b.refused && b.used == 100, "40 more fill it exactly");
	p = budget_realloc(&b, p, 60, 20);
	OK(p != NULL && b.used == 60, "shrinking gives bytes back");
	OK(budget_realloc(&b, p, 20, 61) == NULL && b.refused && b.used == 60,
	   "growing past the limit is refused, the block kept");
	p = budget_realloc(&b, p, 20, 60);
	OK(p != NULL && b.used == 100, "growing within it is counted");
	budget_free(&b, p, 60);
	budget_free(&b, q, 40);
	budget_free(&b, NULL, 0);
	OK(b.used == 0, "everything given back");
	printf("# unit tests done: budget\n");
	return tap_done();
}
