#!/usr/bin/python3
"""The factor every builtin activity component must price in every bundled year, read straight
from the bundled files (data/desnz-factors-YYYY.*, the bytes car.load_factors(year) loads) with
Python's own csv, zipfile and xml modules, not car's readers.  For sql/activities.sql, which runs
it at test time (scripts/test.sh writes its output to the fixtures' generated/ folder):

    /usr/bin/python3 test/gen/expected_factors.py DATA_DIR >expected_factors.sql

prints one INSERT INTO pg_temp.expected_factor row per (year, activity, unit, component) with the
row's path, UOM, value as published and its line (CSV) or row (xlsx) in the file.

The intended path of each component in each year is written here by hand (the DESNZ/BEIS labels
each year uses); a path that matches no row, or more than one, stops the script with an error.
A number is read as the file publishes it: in an .xlsx as its cell's number format shows it
(the format's decimals, rounded half away from zero from Excel's 15 significant digits; General
as 15 significant digits); in a CSV as written (the 2023 file's decimal comma read as a point).
"""
import csv
import glob
import io
import os
import re
import sys
import xml.etree.ElementTree as ET
import zipfile
from decimal import ROUND_HALF_UP, Decimal

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
      "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
      "rel": "http://schemas.openxmlformats.org/package/2006/relationships"}
SHEET = "Factors by Category"


def number(text, decimals):
    v = Decimal(repr(float(text)))
    v = Decimal("%.15g" % v)
    if decimals is None:
        return format(v.normalize(), "f")
    return format(v.quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP), "f")


def decimals_of(code):
    """Decimals a fixed-point number format shows; None for General and anything else."""
    section = re.sub(r'"[^"]*"|\\.|_.|\*.|\[[^\]]*\]', "", code.split(";")[0])
    if not re.fullmatch(r"[0#?,. ()+$-]*", section) or not re.search(r"[0#?]", section):
        return None
    m = re.search(r"\.([0#?]*)", section)
    return len(m.group(1)) if m else 0


BUILTIN_FORMATS = {0: "General", 1: "0", 2: "0.00", 3: "#,##0", 4: "#,##0.00", 11: "0.00E+00"}


def rows_xlsx(path):
    z = zipfile.ZipFile(path)
    sst = []
    if "xl/sharedStrings.xml" in z.namelist():
        for si in ET.fromstring(z.read("xl/sharedStrings.xml")).findall("m:si", NS):
            # the text of the item or of its runs (not of phonetic hints, rPh)
            sst.append("".join(t.text or "" for t in si.findall("m:t", NS) + si.findall("m:r/m:t", NS)))
    styles = ET.fromstring(z.read("xl/styles.xml"))
    fmts = dict(BUILTIN_FORMATS)
    for f in styles.findall("m:numFmts/m:numFmt", NS):
        fmts[int(f.get("numFmtId"))] = f.get("formatCode")
    xfs = [int(x.get("numFmtId", "0")) for x in styles.findall("m:cellXfs/m:xf", NS)]
    wb = ET.fromstring(z.read("xl/workbook.xml"))
    rid = [s.get("{%s}id" % NS["r"]) for s in wb.findall("m:sheets/m:sheet", NS) if s.get("name") == SHEET][0]
    rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    target = [r.get("Target") for r in rels.findall("rel:Relationship", NS) if r.get("Id") == rid][0]
    target = target.lstrip("/")
    sheet = ET.fromstring(z.read(target if target.startswith("xl/") else "xl/" + target))
    for row in sheet.findall("m:sheetData/m:row", NS):
        cells = {}
        for c in row.findall("m:c", NS):
            col = 0
            for ch in re.match(r"[A-Z]+", c.get("r")).group(0):
                col = col * 26 + ord(ch) - 64
            t = c.get("t", "n")
            v = c.find("m:v", NS)
            if t == "inlineStr":
                val = "".join(x.text or "" for x in c.iter("{%s}t" % NS["m"]))
            elif v is None:
                continue
            elif t == "s":
                val = sst[int(v.text)]
            elif t == "n":
                val = number(v.text, decimals_of(fmts.get(xfs[int(c.get("s", "0"))], "General")))
            else:
                val = v.text
            cells[col - 1] = val
        yield int(row.get("r")), [cells.get(i, "") for i in range(max(cells) + 1 if cells else 0)]


def rows_csv(path):
    text = open(path, encoding="utf-8-sig", newline="").read()
    sep = ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
    r = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    end = 0
    for cells in r:
        line, end = end + 1, r.line_num  # the line a record starts on
        if sep == ";":  # Excel in a French locale: decimal comma, space thousands separators
            cells = [re.sub(r"[\s\u00a0\u202f]", "", c).replace(",", ".")
                     if re.fullmatch(r"-?[\d\s\u00a0\u202f]+,\d+|-?\d+", c.strip()) else c for c in cells]
        yield line, cells


def table(path):
    it = rows_xlsx(path) if path.endswith(".xlsx") else rows_csv(path)
    hdr = None
    out = []
    for n, r in it:
        if hdr is None:
            if "Level 1" in [x.strip() for x in r]:
                hdr = {x.strip(): i for i, x in enumerate(r) if x.strip()}
                vcol = [i for k, i in hdr.items() if k.startswith("GHG Conversion Factor")][0]
            continue
        g = lambda k: r[hdr[k]].strip() if k in hdr and hdr[k] < len(r) else ""
        out.append({"line": n, "scope": g("Scope"), "l1": g("Level 1"), "l2": g("Level 2"), "l3": g("Level 3"),
                    "l4": g("Level 4"), "ct": g("Column Text"), "uom": g("UOM"), "ghg": g("GHG/Unit") or g("GHG"),
                    "value": r[vcol].strip() if vcol < len(r) else ""})
    return out


AIR = {"domestic": "Domestic, to/from UK", "short_haul": "Short-haul, to/from UK", "long_haul": "Long-haul, to/from UK",
       "international": "International, to/from non-UK"}
RAIL = {"national": "National rail", "international": "International rail", "light_tram": "Light rail and tram",
        "underground": "London Underground"}
FUELS = {"diesel": ("Liquid fuels", "Diesel (average biofuel blend)", "litres"),
         "petrol": ("Liquid fuels", "Petrol (average biofuel blend)", "litres"),
         "gas_oil": ("Liquid fuels", "Gas oil", "litres"),
         "burning_oil": ("Liquid fuels", "Burning oil", "litres"),
         "lpg": ("Gaseous fuels", "LPG", "litres"),
         "coal_industrial": ("Solid fuels", "Coal (industrial)", "tonnes")}


def intended(year):
    """(activity, unit, component kind, level1, level2, level3, level4, column_text, uom), by hand ("": empty)."""
    wtt_air = "WTT- business travel (air)" if year == 2022 else "WTT- business travel- air"
    wtt_land = "WTT- pass vehs & travel (land)" if year == 2022 else "WTT- pass vehs & travel- land"
    wtt_elec = "WTT- UK electricity" if year >= 2023 else "WTT- UK & overseas elec"
    # from 2022 the fuel rows have no Column Text and their WTT rows' Level 2 lost its "WTT- "
    ct = (lambda text: "") if year >= 2022 else (lambda text: text)
    wtt_l2 = (lambda l2: l2) if year >= 2022 else (lambda l2: "WTT- " + l2.lower())
    # electricity and heat rows got a Level 4: "2020" in 2022 (the data year), "kWh" from 2023
    l4 = "2020" if year == 2022 else "kWh" if year >= 2023 else ""
    e = [("electricity", "kWh", "generation", "UK electricity", "Electricity generated", "Electricity: UK", l4, "", "kWh"),
         ("electricity", "kWh", "td", "Transmission and distribution", "T&D- UK electricity", "Electricity: UK", l4, "", "kWh"),
         ("electricity", "kWh", "wtt_generation", wtt_elec, "WTT- UK electricity (generation)", "Electricity: UK", l4, "", "kWh"),
         ("electricity", "kWh", "wtt_td", wtt_elec, "WTT- UK electricity (T&D)", "Electricity: UK", l4, "", "kWh")]
    for basis, act in (("Gross CV", "natural_gas"), ("Net CV", "natural_gas_net_cv")):
        e += [(act, "kWh", "combustion", "Fuels", "Gaseous fuels", "Natural gas", "", ct("Energy - " + basis), "kWh (%s)" % basis),
              (act, "kWh", "wtt", "WTT- fuels", wtt_l2("Gaseous fuels"), "Natural gas", "", ct("Energy - " + basis), "kWh (%s)" % basis)]
    e += [("water_supply", "m3", "supply", "Water supply", "Water supply", "Water supply", "", "", "cubic metres"),
          ("water_treatment", "m3", "treatment", "Water treatment", "Water treatment", "Water treatment", "", "", "cubic metres")]
    for k, (l2, l3, volume) in FUELS.items():
        for unit, uom, text in (("kWh", "kWh (Gross CV)", "Energy - Gross CV"),
                                (volume, volume, "Volume" if volume == "litres" else "Tonnes")):
            e += [(k, unit, "combustion", "Fuels", l2, l3, "", ct(text), uom),
                  (k, unit, "wtt", "WTT- fuels", wtt_l2(l2), l3, "", ct(text), uom)]
    for k, l3 in AIR.items():
        for suffix, text in (("_rf", "With RF"), ("_no_rf", "Without RF")):
            e += [("air_" + k + suffix, "passenger.km", "travel", "Business travel- air", "Flights", l3, "Average passenger", text, "passenger.km"),
                  ("air_" + k + suffix, "passenger.km", "wtt", wtt_air, "WTT- flights", l3, "Average passenger", text, "passenger.km")]
    for k, l3 in RAIL.items():
        e += [("rail_" + k, "passenger.km", "travel", "Business travel- land", "Rail", l3, "", "", "passenger.km"),
              ("rail_" + k, "passenger.km", "wtt", wtt_land, "WTT- rail", l3, "", "", "passenger.km")]
    for k, text in (("grey_fleet_car", "Unknown"), ("grey_fleet_car_petrol", "Petrol"), ("grey_fleet_car_diesel", "Diesel")):
        e += [(k, "km", "travel", "Business travel- land", "Cars (by size)", "Average car", "", text, "km"),
              (k, "km", "wtt", wtt_land, "WTT- cars (by size)", "Average car", "", text, "km")]
    e += [("heat_steam", "kWh", "heat", "Heat and steam", "Heat and steam", "District heat and steam", l4, "", "kWh"),
          ("heat_steam", "kWh", "wtt", "WTT- heat and steam", "WTT- heat and steam", "District heat and steam", l4, "", "kWh"),
          ("heat_steam", "kWh", "distribution", "Transmission and distribution", "Distribution - district heat & steam", "5% loss", l4, "", "kWh"),
          ("heat_steam", "kWh", "wtt_distribution", "WTT- heat and steam", "WTT- district heat & steam distribution", "5% loss", l4, "", "kWh")]
    old = year <= 2021  # until 2021 one row per gas, without the Kyoto/non-Kyoto column
    for k, l2new, l2old, l3, text in (
            ("r410a", "Blends", "Kyoto protocol- blends", "R410A", "Emissions including only Kyoto products"),
            ("r404a", "Blends", "Kyoto protocol- blends", "R404A", "Emissions including only Kyoto products"),
            ("r407c", "Blends", "Kyoto protocol- blends", "R407C", "Emissions including only Kyoto products"),
            ("r134a", "Kyoto protocol products", "Kyoto protocol - standard", "HFC-134a", "Emissions including only Kyoto products"),
            ("r32", "Kyoto protocol products", "Kyoto protocol - standard", "HFC-32", "Emissions including only Kyoto products"),
            ("r22", "Montreal protocol products", "Montreal protocol - standard", "HCFC-22/R22 = chlorodifluoromethane",
             "Total emissions including non-Kyoto products")):
        e.append(("refrigerant_" + k, "kg", "leakage", "Refrigerant & other", l2old if old else l2new, l3, "",
                  "" if old else text, "kg"))
    return e


def main():
    data = sys.argv[1]
    q = lambda x: "'%s'" % x.replace("'", "''")
    bad = []
    for path in sorted(glob.glob(os.path.join(data, "desnz-factors-*"))):
        year = int(re.search(r"desnz-factors-(\d{4})\.", path).group(1))
        rows = table(path)
        for act, unit, kind, l1, l2, l3, l4, text, uom in intended(year):
            # labels compared without regard to case, as car's paths are (2016-2021 write "Natural Gas",
            # "Gas Oil" and "Burning Oil" on their WTT rows)
            want = tuple(x.lower() for x in (l1, l2, l3, l4, text)) + (uom,)
            hits = [r for r in rows if r["ghg"] == "kg CO2e"
                    and tuple(x.lower() for x in (r["l1"], r["l2"], r["l3"], r["l4"], r["ct"])) + (r["uom"],) == want]
            if len(hits) != 1:
                bad.append("%d %s %s %s: %d rows match %r" % (year, act, unit, kind, len(hits), (l1, l2, l3, l4, text, uom)))
                continue
            h = hits[0]
            print("INSERT INTO pg_temp.expected_factor VALUES (%d, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %d); -- %s"
                  % (year, q(act), q(unit), q(kind), q(h["scope"]), q(h["l1"]), q(h["l2"]), q(h["l3"]), q(h["l4"]), q(h["ct"]), q(uom), h["value"],
                     h["line"], os.path.basename(path)))
    if bad:
        sys.exit("expected_factors.py: intended paths without exactly one row:\n  " + "\n  ".join(bad))


if __name__ == "__main__":
    main()
