#!/usr/bin/python3
"""Derive a plain CSV of sheet "Factors by Category" from an official .xls flat file.

Made for the 2017 and 2018 BIFF8 workbooks, which FreeXL 1.0.6 cannot read (README,
"Legacy .xls"); run with Debian's /usr/bin/python3 and python3-xlrd 1.2:

    /usr/bin/python3 test/data/derive_xls.py IN.xls OUT.csv

Every cell of the sheet, row by row, as Excel displays it:
- a number as its cell's number format shows it: the format's decimals ("0.00000",
  "#,##0.00000" 5; "#,##0.0" 1; "#,##0" 0), rounded half away from zero from the
  15 significant digits Excel holds, written as a plain decimal without thousands
  separators (0.1841639890773745 under 0.00000 is 0.18416; 2088 under #,##0.00000
  is 2088.00000); General as 15 significant digits, trailing zeros removed;
- a formula cell as its cached result (xlrd reads the FORMULA record's result);
- text verbatim (a trailing space kept), empty cells empty.
RFC 4180 CSV, UTF-8 without BOM, LF line ends, quotes only where needed; preamble
rows kept, trailing empty cells of a row trimmed.  No value is changed otherwise.

Provenance: row 1 (empty in 2017, the sheet's title in 2018) becomes one cell naming
the source workbook and its SHA-256, so that the factor set car loads from the CSV
carries them in its title (car.factor_set.title, which car.methodology prints):
  "<title of row 1, or the publisher's usual one> <year>, derived from <file name>
   (sha256 <64 hex digits>) by car's test/data/derive_xls.py: ..."
Every other row keeps its place, so a CSV line number is the workbook's row number.
"""
import csv
import hashlib
import os
import re
import sys
from decimal import Decimal, ROUND_HALF_UP

import xlrd


def decimals(fmt):
    """Decimals a fixed-point format shows, or None for General and the rest."""
    section = re.sub(r'"[^"]*"|\\.|_.|\*.|\[[^\]]*\]', "", fmt.split(";")[0])
    if not re.fullmatch(r"[0#?,. ()+$-]*", section) or not re.search(r"[0#?]", section):
        return None
    m = re.search(r"\.([0#?]*)", section)
    return len(m.group(1)) if m else 0


def general(v):
    return format(Decimal("%.15g" % v).normalize(), "f")


def shown(book, cell):
    if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return ""
    if cell.ctype == xlrd.XL_CELL_TEXT:
        return cell.value
    if cell.ctype == xlrd.XL_CELL_NUMBER:
        fmt = book.format_map[book.xf_list[cell.xf_index].format_key].format_str
        d = decimals(fmt)
        if d is None:
            return general(cell.value)
        q = Decimal("%.15g" % cell.value).quantize(Decimal(1).scaleb(-d), rounding=ROUND_HALF_UP)
        return format(q, "f")
    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
        return "TRUE" if cell.value else "FALSE"
    if cell.ctype == xlrd.XL_CELL_ERROR:
        return xlrd.error_text_from_code.get(cell.value, "#ERROR")
    raise SystemExit("unexpected cell type %r" % cell.ctype)


def provenance(path, sheet, first):
    """The title cell of row 1: the workbook's own title, its year, its file name and SHA-256."""
    year = None
    for r in range(min(sheet.nrows, 10)):
        for c in sheet.row(r):
            m = re.fullmatch(r"\s*GHG Conversion Factor (\d{4})\s*", str(c.value))
            if m:
                year = m.group(1)
    if year is None:
        raise SystemExit("no \"GHG Conversion Factor YYYY\" header in the first 10 rows")
    title = (first[0].strip() if first else "") or "UK Government GHG Conversion Factors for Company Reporting"
    sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return ("%s %s, derived from %s (sha256 %s) by car's test/data/derive_xls.py: numbers as their cells' formats "
            "show them, formula cells as their cached results" % (title, year, os.path.basename(path), sha))


def main():
    book = xlrd.open_workbook(sys.argv[1], formatting_info=True)
    sheet = book.sheet_by_name("Factors by Category")
    with open(sys.argv[2], "w", newline="", encoding="utf-8") as out:
        w = csv.writer(out, lineterminator="\n")
        for r in range(sheet.nrows):
            row = [shown(book, c) for c in sheet.row(r)]
            while row and row[-1] == "":
                row.pop()
            if r == 0:
                if len(row) > 1:
                    raise SystemExit("row 1 holds more than a title: %r" % row)
                row = [provenance(sys.argv[1], sheet, row)]
            w.writerow(row)


if __name__ == "__main__":
    main()
