#!/usr/bin/env python3
"""Print, as SQL VALUES rows, the factor every builtin activity component must price in every
bundled year, read straight from the files with Python's csv and zipfile modules (not car's
readers): for sql/activities.sql.  Run once; its output is pasted into the test.

The intended path of each component is written here by hand (the DESNZ labels of each year);
the value is the one in the file: derived CSVs for 2017, 2018, 2021, 2022 and 2024, the French
locale CSV for 2023 (decimal comma), and the 2016 workbook's XML with each cell's number format.
"""
import csv, re, sys, zipfile
from decimal import Decimal, ROUND_HALF_UP

D = sys.argv[1]  # test/data
FILES = {2016: "desnz_flatfile/2016_Flat_format_file_v01-01.xlsx",
         2017: "desnz_flatfile_derived_csv/conversion-factors-2017.factors-by-category.csv",
         2018: "desnz_flatfile_derived_csv/conversion-factors-2018.factors-by-category.csv",
         2021: "desnz_flatfile_derived_csv/ghg-conversion-factors-2021.factors-by-category.csv",
         2022: "desnz_flatfile_derived_csv/ghg-conversion-factors-2022.factors-by-category.csv",
         2023: "desnz_flatfile/ghg-conversion-factors-2023-flat-file-update.frlocale.csv",
         2024: "desnz_flatfile_derived_csv/ghg-conversion-factors-2024.factors-by-category.csv"}

def rows_csv(path, sep):
    with open(path, encoding="utf-8-sig", newline="") as f:
        for n, r in enumerate(csv.reader(f, delimiter=sep), 1):
            yield n, r

def rows_xlsx(path):
    z = zipfile.ZipFile(path)
    sst = [re.sub(r"<[^>]+>", "", m) for m in re.findall(r"<si>(.*?)</si>", z.read("xl/sharedStrings.xml").decode(), re.S)]
    st = z.read("xl/styles.xml").decode()
    fmts = {int(i): c for i, c in re.findall(r'<numFmt numFmtId="(\d+)" formatCode="([^"]*)"', st)}
    xfs = [int(i) for i in re.findall(r'<xf [^>]*numFmtId="(\d+)"', st.split("<cellXfs")[1].split("</cellXfs>")[0])]
    wb = z.read("xl/workbook.xml").decode()
    rid = re.search(r'<sheet name="Factors by Category" sheetId="\d+" r:id="(rId\d+)"', wb).group(1)
    target = re.search(r'Id="%s"[^>]*Target="([^"]+)"' % rid, z.read("xl/_rels/workbook.xml.rels").decode()) or \
        re.search(r'Target="([^"]+)"[^>]*Id="%s"' % rid, z.read("xl/_rels/workbook.xml.rels").decode())
    sheet = z.read("xl/" + target.group(1).lstrip("/").replace("xl/", "")).decode()
    for m in re.finditer(r'<row r="(\d+)"[^>]*>(.*?)</row>', sheet, re.S):
        cells = {}
        for c in re.finditer(r'<c r="([A-Z]+)\d+"([^>]*?)(?:/>|>(.*?)</c>)', m.group(2), re.S):
            col = 0
            for ch in c.group(1):
                col = col * 26 + ord(ch) - 64
            attrs, body = c.group(2), c.group(3) or ""
            v = re.search(r"<v>(.*?)</v>", body)
            if not v:
                continue
            t = re.search(r't="(\w+)"', attrs)
            s = re.search(r's="(\d+)"', attrs)
            val = v.group(1)
            if t and t.group(1) == "s":
                val = sst[int(val)]
            elif not t or t.group(1) == "n":
                code = fmts.get(xfs[int(s.group(1))] if s else 0, "General")
                dm = re.search(r"\.(0+)", code)
                if dm:
                    val = str(Decimal("%.15g" % float(val)).quantize(Decimal(1).scaleb(-len(dm.group(1))), ROUND_HALF_UP))
                else:
                    val = str(Decimal("%.15g" % float(val)).normalize())
            cells[col - 1] = val.replace("&amp;", "&")
        yield int(m.group(1)), [cells.get(i, "") for i in range(max(cells) + 1 if cells else 0)]

def table(year):
    path = D + "/" + FILES[year]
    it = rows_xlsx(path) if path.endswith(".xlsx") else rows_csv(path, ";" if "frlocale" in path else ",")
    hdr = None
    out = []
    for n, r in it:
        if hdr is None:
            if "Level 1" in [x.strip() for x in r]:
                hdr = {x.strip(): i for i, x in enumerate(r)}
            continue
        g = lambda k: r[hdr[k]].strip() if hdr.get(k) is not None and hdr[k] < len(r) else ""
        ghg = g("GHG/Unit") or g("GHG")
        val = r[[i for k, i in hdr.items() if k.startswith("GHG Conversion Factor")][0]] if len(r) > max(hdr.values()) - 0 else ""
        out.append((n, g("Level 1"), g("Level 2"), g("Level 3"), g("Level 4"), g("Column Text"), g("UOM"), ghg,
                    val.replace("\u00a0", "").replace(" ", "").replace(",", ".") if "frlocale" in path else val))
    return FILES[year], out

AIR = {"domestic": "Domestic, to/from UK", "short_haul": "Short-haul, to/from UK", "long_haul": "Long-haul, to/from UK",
       "international": "International, to/from non-UK"}
RAIL = {"national": "National rail", "international": "International rail", "light_tram": "Light rail and tram",
        "underground": "London Underground"}
FUELS = {"diesel": ("Liquid fuels", "Diesel (average biofuel blend)"), "petrol": ("Liquid fuels", "Petrol (average biofuel blend)"),
         "lpg": ("Gaseous fuels", "LPG"), "gas_oil": ("Liquid fuels", "Gas oil")}

def intended(year):
    """(activity, unit, component kind, l1, l2, l3, l4, column_text, uom) by hand."""
    wtt_air = "WTT- business travel (air)" if year == 2022 else "WTT- business travel- air"
    wtt_land = "WTT- pass vehs & travel (land)" if year == 2022 else "WTT- pass vehs & travel- land"
    wtt_elec = "WTT- UK electricity" if year >= 2023 else "WTT- UK & overseas elec"
    e = []
    e += [("electricity", "kWh", "generation", "UK electricity", "Electricity generated", "Electricity: UK", None, "", "kWh"),
          ("electricity", "kWh", "td", "Transmission and distribution", "T&D- UK electricity", "Electricity: UK", None, "", "kWh"),
          ("electricity", "kWh", "wtt_generation", wtt_elec, "WTT- UK electricity (generation)", "Electricity: UK", None, "", "kWh"),
          ("electricity", "kWh", "wtt_td", wtt_elec, "WTT- UK electricity (T&D)", "Electricity: UK", None, "", "kWh")]
    for basis, act in (("Gross CV", "natural_gas"), ("Net CV", "natural_gas_net_cv")):
        e += [(act, "kWh", "combustion", "Fuels", "Gaseous fuels", "Natural gas", None, "Energy - " + basis, "kWh (%s)" % basis),
              (act, "kWh", "wtt", "WTT- fuels", "WTT- gaseous fuels", "Natural gas", None, "Energy - " + basis, "kWh (%s)" % basis)]
    e += [("water_supply", "m3", "supply", "Water supply", "Water supply", "Water supply", None, "", "cubic metres"),
          ("water_treatment", "m3", "treatment", "Water treatment", "Water treatment", "Water treatment", None, "", "cubic metres")]
    for k, (l2, l3) in FUELS.items():
        for unit, uom, ct in (("kWh", "kWh (Gross CV)", "Energy - Gross CV"), ("litres", "litres", "Volume")):
            e += [(k, unit, "combustion", "Fuels", l2, l3, None, ct, uom),
                  (k, unit, "wtt", "WTT- fuels", "WTT- " + l2.lower(), l3, None, ct, uom)]
    for k, l3 in AIR.items():
        for suffix, ct in (("_rf", "With RF"), ("_no_rf", "Without RF")):
            e += [("air_" + k + suffix, "passenger.km", "travel", "Business travel- air", "Flights", l3, "Average passenger", ct, "passenger.km"),
                  ("air_" + k + suffix, "passenger.km", "wtt", wtt_air, "WTT- flights", l3, "Average passenger", ct, "passenger.km")]
    for k, l3 in RAIL.items():
        e += [("rail_" + k, "passenger.km", "travel", "Business travel- land", "Rail", l3, None, "", "passenger.km"),
              ("rail_" + k, "passenger.km", "wtt", wtt_land, "WTT- rail", l3, None, "", "passenger.km")]
    for k, ct in (("grey_fleet_car", "Unknown"), ("grey_fleet_car_petrol", "Petrol"), ("grey_fleet_car_diesel", "Diesel")):
        e += [(k, "km", "travel", "Business travel- land", "Cars (by size)", "Average car", None, ct, "km"),
              (k, "km", "wtt", wtt_land, "WTT- cars (by size)", "Average car", None, ct, "km")]
    e += [("heat_steam", "kWh", "heat", "Heat and steam", "Heat and steam", "District heat and steam", None, "", "kWh"),
          ("heat_steam", "kWh", "wtt", "WTT- heat and steam", "WTT- heat and steam", "District heat and steam", None, "", "kWh"),
          ("heat_steam", "kWh", "distribution", "Transmission and distribution", "Distribution - district heat & steam", "5% loss", None, "", "kWh"),
          ("heat_steam", "kWh", "wtt_distribution", "WTT- heat and steam", "WTT- district heat & steam distribution", "5% loss", None, "", "kWh")]
    old = year <= 2021
    for k, l2new, l2old, l3, ct in (("r410a", "Blends", "Kyoto protocol- blends", "R410A", "Emissions including only Kyoto products"),
                                    ("r404a", "Blends", "Kyoto protocol- blends", "R404A", "Emissions including only Kyoto products"),
                                    ("r407c", "Blends", "Kyoto protocol- blends", "R407C", "Emissions including only Kyoto products"),
                                    ("r134a", "Kyoto protocol products", "Kyoto protocol - standard", "HFC-134a", "Emissions including only Kyoto products"),
                                    ("r32", "Kyoto protocol products", "Kyoto protocol - standard", "HFC-32", "Emissions including only Kyoto products"),
                                    ("r22", "Montreal protocol products", "Montreal protocol - standard", "HCFC-22/R22 = chlorodifluoromethane", "Total emissions including non-Kyoto products")):
        e.append(("refrigerant_" + k, "kg", "leakage", "Refrigerant & other", l2old if old else l2new, l3, None, "" if old else ct, "kg"))
    return e


for year in sorted(FILES):
    name, rows = table(year)
    for a in intended(year):
        act, unit, kind, l1, l2, l3, l4, ct, uom = a
        hits = [r for r in rows if r[1].lower() == l1.lower() and r[2].lower() == l2.lower() and r[3].lower() == l3.lower()
                and (l4 is None or r[4].lower() == l4.lower()) and r[5].lower() == ct.lower() and r[6] == uom and r[7] == "kg CO2e"]
        if len(hits) != 1:
            sys.exit("%d %s %s: %d rows" % (year, act, kind, len(hits)))
        n, *_, v = hits[0]
        q = lambda x: "'%s'" % x.replace("'", "''")
        print("    (%d, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s), -- %s:%d" % (
            year, q(act), q(unit), q(kind), q(hits[0][1]), q(hits[0][2]), q(hits[0][3]), q(hits[0][4]), q(hits[0][5]),
            q(uom), v, name, n))
