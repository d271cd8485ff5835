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
"""
import csv
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


def main():
    book = xlrd.open_workbook(sys.argv[1], formatting_info=True)
    sheet = book.sheet_by_name("Factors by Category")
    with open(sys.argv[2], "w", newline="", encoding="utf-8") as out:
        w = csv.writer(out, lineterminator="\n")
        for r in range(sheet.nrows):
            row = [shown(book, c) for c in sheet.row(r)]
            while row and row[-1] == "":
                row.pop()
            w.writerow(row)


if __name__ == "__main__":
    main()
