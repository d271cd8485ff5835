/*
 * units.h
 *		Pure C helpers for units of measure (no backend calls).
 *
 * The unit catalogue itself lives in the table car.unit; the backend reads
 * it into UnitDef structs.  Here are the parts that need no catalogue: how a
 * unit's spelling is normalised for comparison, how a factor file's
 * "kWh (Gross CV)" splits into a unit and a calorific-value basis, and the
 * conversion arithmetic with its dimension check.
 */
#ifndef CAR_UNITS_H
#define CAR_UNITS_H

#include <stddef.h>

#define UNIT_NAMELEN 64

typedef struct UnitDef
{
	char   name[UNIT_NAMELEN];
	char   dimension[32];
	double to_base; /* multiply by this to get the base unit */
} UnitDef;

/*
 * Lower-case, trim, collapse white space, and spell superscripts plainly
 * ("m³" -> "m3").  Used for every unit lookup, so "KWH " finds "kWh".
 */
extern void unit_normalise(const char *in, char *out, size_t outlen);

/*
 * Split "kWh (Gross CV)" into "kWh" and the basis "gross cv" (normalised:
 * "gross", "gross cv", "(gross)" all give "gross cv"; likewise net).  basis
 * is "" when the text names none.
 */
extern void unit_split_basis(const char *in, char *unit, size_t ulen,
							 char *basis, size_t blen);

/* Normalise a calorific-value basis ("Gross CV", "net") to "gross cv"/"net cv"/"". */
extern void unit_normalise_basis(const char *in, char *out, size_t outlen);

/*
 * Factor to multiply a quantity in from by to obtain it in to.  Returns 0,
 * or -1 with a message naming both units when their dimensions differ.
 */
extern int unit_factor(const UnitDef *from, const UnitDef *to, double *factor,
					   char *err, size_t errlen);

#endif /* CAR_UNITS_H */
