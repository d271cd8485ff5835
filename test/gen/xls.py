#!/usr/bin/python3
"""Write the .xls (BIFF8) test workbooks of car's tests with xlwt (Debian python3-xlwt).

  flat-2019.xls      a small DESNZ-style flat file: a Front page, then "Factors by
                     Category" with title and HIDE rows above the header on row 5,
                     a formula cell whose cached result is 0.2046266545304161, an
                     integer (2040), a label with a trailing space, an empty value,
                     "< 1" and an END row
  flat-2019-values.xls  the same without the formula cell and the row with an empty
                     value, and with " R410A " padded, plus the rows every set must
                     have (CORE): every data row has a value, so car loads it (its .xls
                     reader refuses empty value cells: README)
  empty-string.xls   the same as flat-2019.xls with one empty string in the shared-string table, as
                     the official 2017 and 2018 flat files have (FreeXL 1.0.6 refuses it)
  dimension-bomb.xls the same with the factor sheet's DIMENSIONS record claiming
                     16,777,216 rows x 256 columns: FreeXL 1.0.6 multiplies them in 32
                     bits (0) and writes the cell array past its end

xlwt writes a formula without a cached result; the generator puts one in the
FORMULA record's result field, as Excel does.  Deterministic: same bytes each run.
Run with /usr/bin/python3 (Debian's, which sees python3-xlwt).
"""
import argparse
import os
import struct

import xlwt

HEADER = ["Scope", "Level 1", "Level 2", "Level 3", "Level 4", "Column Text", "UOM (simple)", "UOM", "GHG",
          "Lookup", "GHG Conversion Factor 2019"]
ROWS = [
    ["Scope 1", "Fuels", "Gaseous fuels", "Natural gas", None, None, "Energy", "kWh (Gross CV)", "kg CO2e", "x",
     0.1839968181812754],
    ["Scope 1", "Fuels", "Gaseous fuels", "Natural gas", None, None, "Energy", "kWh (Net CV)", "kg CO2e", "x",
     "FORMULA"],
    ["Scope 1", "Refrigerant & other", "Kyoto protocol - standard", "R1234yf ", None, None, "Weight", "kg",
     "kg CO2e", "x", "< 1"],
    ["Scope 1", "Refrigerant & other", "Kyoto protocol- blends", "R410A", None, None, "Weight", "kg", "kg CO2e",
     "x", 2088],
    ["Scope 2", "UK electricity", "Electricity generated", "Electricity: UK", None, None, "Energy", "kWh",
     "kg CO2e", "x", None],
    ["Outside of Scopes", "Outside of scopes", "Biogas", "Landfill gas", None, None, "Weight", "tonnes",
     "kg CO2", "x", 2040],
]
FORMULA_RESULT = 0.2046266545304161
# What car needs of any set before it loads it (src/factors.c, RequireCore): electricity with T&D
# and well-to-tank, natural gas on both CV bases with well-to-tank, water, diesel and petrol
# (values illustrative, near the 2019 ones).
# flat-2019-values.xls carries these after ROWS (its Natural gas Gross CV row is in ROWS).
CORE = [
    ["Scope 2", "UK electricity", "Electricity generated", "Electricity: UK", None, None, "Energy", "kWh",
     "kg CO2e", "x", 0.2556],
    ["Scope 3", "Transmission and distribution", "T&D- UK electricity", "Electricity: UK", None, None, "Energy",
     "kWh", "kg CO2e", "x", 0.02170],
    ["Scope 3", "WTT- UK electricity", "WTT- UK electricity (generation)", "Electricity: UK", None, None,
     "Energy", "kWh", "kg CO2e", "x", 0.03565],
    ["Scope 3", "WTT- UK electricity", "WTT- UK electricity (T&D)", "Electricity: UK", None, None, "Energy",
     "kWh", "kg CO2e", "x", 0.00303],
    ["Scope 1", "Fuels", "Gaseous fuels", "Natural gas", None, "Energy - Net CV", "Energy", "kWh (Net CV)",
     "kg CO2e", "x", 0.20428],
    ["Scope 3", "WTT- fuels", "WTT- gaseous fuels", "Natural gas", None, "Energy - Gross CV", "Energy",
     "kWh (Gross CV)", "kg CO2e", "x", 0.02533],
    ["Scope 3", "WTT- fuels", "WTT- gaseous fuels", "Natural gas", None, "Energy - Net CV", "Energy",
     "kWh (Net CV)", "kg CO2e", "x", 0.02812],
    ["Scope 3", "Water supply", "Water supply", "Water supply", None, None, "Volume", "cubic metres",
     "kg CO2e", "x", 0.344],
    ["Scope 1", "Fuels", "Liquid fuels", "Diesel (average biofuel blend)", None, None, "Volume", "litres",
     "kg CO2e", "x", 2.59411],
    ["Scope 3", "WTT- fuels", "WTT- liquid fuels", "Diesel (average biofuel blend)", None, None, "Volume",
     "litres", "kg CO2e", "x", 0.62409],
    ["Scope 1", "Fuels", "Liquid fuels", "Petrol (average biofuel blend)", None, None, "Volume", "litres",
     "kg CO2e", "x", 2.20904],
    ["Scope 3", "WTT- fuels", "WTT- liquid fuels", "Petrol (average biofuel blend)", None, None, "Volume",
     "litres", "kg CO2e", "x", 0.60283],
]


def build(empty_string=False, values_only=False):
    wb = xlwt.Workbook(encoding="utf-8")
    front = wb.add_sheet("Front page")
    front.write(0, 0, "UK Government GHG Conversion Factors for Company Reporting")
    front.write(2, 0, "Year")
    front.write(2, 1, 2019)
    s = wb.add_sheet("Factors by Category")
    s.write(0, 0, "UK Government GHG Conversion Factors for Company Reporting")
    s.write(1, 0, "Flat file for automatic processing")
    s.write(3, 1, "Category")
    s.write(3, 6, "HIDE")
    s.write(3, 9, "HIDE")
    for c, h in enumerate(HEADER):
        s.write(4, c, h)
    r = 5
    for row in ROWS + (CORE if values_only else []):
        if values_only and row[10] in ("FORMULA", None):
            continue
        if values_only and row[3] == "R410A":
            row = row[:3] + [" R410A "] + row[4:]
        for c, v in enumerate(row):
            if v == "FORMULA":
                s.write(r, c, xlwt.Formula("2+3"))
            elif v is not None:
                s.write(r, c, v)
        r += 1
    if empty_string:
        s.row(r).set_cell_text(1, "")
        r += 1
    s.write(r, 0, "END")
    return wb


def save(wb, path, patch=None):
    wb.save(path)
    data = bytearray(open(path, "rb").read())
    if patch:
        patch(data)
    open(path, "wb").write(bytes(data))


def records(data, rtype):
    """Offsets of BIFF records of one type (xlwt writes the stream in order, sector by sector)."""
    i = data.find(struct.pack("<H", rtype))
    while i >= 0:
        yield i
        i = data.find(struct.pack("<H", rtype), i + 1)


def cached_result(data):
    for i in records(data, 0x0006):
        size, row, col = struct.unpack("<HHH", data[i + 2:i + 8])
        if size >= 20 and row == 6 and col == 10:
            data[i + 10:i + 18] = struct.pack("<d", FORMULA_RESULT)
            return
    raise SystemExit("no FORMULA record found")


def dimension_bomb(data):
    cached_result(data)
    found = [i for i in records(data, 0x0200) if struct.unpack("<H", data[i + 2:i + 4])[0] == 14]
    if len(found) != 2:
        raise SystemExit("expected two DIMENSIONS records, found %d" % len(found))
    i = found[1]
    data[i + 8:i + 12] = struct.pack("<I", 0x01000000)
    data[i + 14:i + 16] = struct.pack("<H", 256)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    save(build(), os.path.join(out, "flat-2019.xls"), cached_result)
    save(build(values_only=True), os.path.join(out, "flat-2019-values.xls"))
    save(build(empty_string=True), os.path.join(out, "empty-string.xls"), cached_result)
    save(build(), os.path.join(out, "dimension-bomb.xls"), dimension_bomb)


if __name__ == "__main__":
    main()
