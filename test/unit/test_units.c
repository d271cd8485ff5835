/* Unit tests of the unit helpers (src/units.c). */
#include "tap.h"
#include "units.h"

static void
split(const char *in, const char *unit, const char *basis)
{
	char u[UNIT_NAMELEN],
		b[32];

	unit_split_basis(in, u, sizeof(u), b, sizeof(b));
	OK(strcmp(u, unit) == 0 && strcmp(b, basis) == 0, "\"%s\" -> \"%s\" + \"%s\" (got \"%s\" + \"%s\")",
	   in, unit, basis, u, b);
}

int
main(void)
{
	char	n[UNIT_NAMELEN];
	UnitDef kwh = {"kWh", "energy", 1};
	UnitDef mwh = {"MWh", "energy", 1000};
	UnitDef therm = {"therm", "energy", 105505585.262 / 3600000};
	UnitDef litres = {"litres", "volume", 0.001};
	double	k;
	char	err[256];

	unit_normalise("  KWH ", n, sizeof(n));
	IS_STR(n, "kwh", "normalise: case and spaces");
	unit_normalise("cubic   Metres", n, sizeof(n));
	IS_STR(n, "cubic metres", "normalise: inner spaces collapse");
	unit_normalise("m\xC2\xB3", n, sizeof(n));
	IS_STR(n, "m3", "normalise: superscript three");

	split("kWh (Gross CV)", "kwh", "gross cv");
	split("kWh (Net CV)", "kwh", "net cv");
	split("kWh (net)", "kwh", "net cv");
	split("kWh(gross)", "kwh", "gross cv");
	split("kWh", "kwh", "");
	split("m3 (gas)", "m3 (gas)", "");
	split("(Gross CV)", "(gross cv)", "");

	OK(unit_factor(&mwh, &kwh, &k, err, sizeof(err)) == 0 && k == 1000, "MWh -> kWh is 1000");
	OK(unit_factor(&therm, &kwh, &k, err, sizeof(err)) == 0 && k > 29.3071 && k < 29.3072, "therm -> kWh is 29.3071");
	OK(unit_factor(&kwh, &litres, &k, err, sizeof(err)) != 0 && strstr(err, "kWh") && strstr(err, "litres"),
	   "kWh -> litres refused naming both: %s", err);
	printf("# unit tests done: units\n");
	return tap_done();
}
