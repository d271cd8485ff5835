#!/usr/bin/env python3
"""Zip bombs for car's regression tests: small .xlsx workbooks whose parts
decompress past the xlsx reader's caps (src/xlsx.h).

  shared-strings.xlsx  a sheet "Factors by Category" and shared strings of
                       1,000 strings of 100 kB (100 MB of text; the cap on
                       their text is 64 MB), in about 100 kB
  sheet.xlsx           a flat-file header and two factor rows, then 300 MB of
                       64 kB runs of blanks between empty rows (the cap on
                       one part is 256 MB), in about 340 kB

Each bomb part is written as it is compressed, never held whole.  Python's
standard library only; the same arguments always give the same bytes (the
parts carry a fixed date).
"""
import argparse
import os
import zipfile

WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Factors by Category" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>'
)
HEADER = ["Scope", "Level 1", "Level 2", "Level 3", "Level 4", "Column Text", "UOM", "GHG/Unit",
          "GHG Conversion Factor 2020"]
ROWS = [["Scope 2", "UK electricity", "Electricity generated", "Electricity: UK", "", "", "kWh", "kg CO2e", 0.23314],
        ["Scope 2", "UK electricity", "Electricity generated", "Electricity: UK", "", "", "kWh", "kg CO2e of CO2", 0.23104]]
COLUMNS = "ABCDEFGHI"


def row_xml(number, cells):
    """A <row> of inline strings and numbers."""
    out = ['<row r="%d">' % number]
    for col, value in zip(COLUMNS, cells):
        if isinstance(value, float):
            out.append('<c r="%s%d"><v>%r</v></c>' % (col, number, value))
        elif value:
            out.append('<c r="%s%d" t="inlineStr"><is><t>%s</t></is></c>' % (col, number, value))
    out.append("</row>")
    return "".join(out)


def part(zf, name, chunks):
    """Write the part name from an iterable of str chunks, compressing as it goes."""
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(info, "w") as f:
        for chunk in chunks:
            f.write(chunk.encode())


def workbook(path, strings, sheet):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        part(zf, "xl/workbook.xml", [WORKBOOK])
        part(zf, "xl/_rels/workbook.xml.rels", [RELS])
        part(zf, "xl/sharedStrings.xml", strings)
        part(zf, "xl/worksheets/sheet1.xml", sheet)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, help="folder to write the bombs into")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    one_string = "<si><t>" + "a" * (100 * 1024) + "</t></si>"
    workbook(os.path.join(args.out, "shared-strings.xlsx"),
             ["<sst>"] + [one_string] * 1000 + ["</sst>"],
             ['<worksheet><sheetData>' + row_xml(1, HEADER) + '</sheetData></worksheet>'])

    blanks = " " * (64 * 1024) + "<row/>"
    workbook(os.path.join(args.out, "sheet.xlsx"),
             ["<sst/>"],
             ['<worksheet><sheetData>' + row_xml(1, HEADER) + row_xml(2, ROWS[0]) + row_xml(3, ROWS[1])]
             + [blanks] * 4800 + ['</sheetData></worksheet>'])


if __name__ == "__main__":
    main()
