#!/usr/bin/env python3
"""Deterministic generator of a large long-layout meter file, streamed.

Writes a CSV of about --bytes bytes to --out (or stdout with "-"): a header
"Site,Meter,ReadDatetime,kWh,Note", then one reading a row, meter by meter,
half-hour by half-hour in UTC from --start.  The Note column is free text as
exports carry it: quoted, with a comma in it, padded to make the rows long
(so that a file of gigabytes holds millions of readings, not billions),
and every 997th row's note runs over two lines (a line break inside quotes),
so that records, quoted fields and CRLF line ends fall across every place a
reader's pieces can end.  Line ends are CRLF.

Prints (to stderr, or to --totals) what a correct loader must end up with:
"readings|N", "kwh_tenths|T" (the sum of the readings in tenths of a kWh,
exact), "meters|M", "bytes|B", "lines|L".  Python's standard library only;
the same arguments always give the same bytes.
"""
import argparse
import datetime
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, help="file to write, or - for stdout")
    ap.add_argument("--bytes", type=int, required=True, help="about this many bytes (at least one row a meter)")
    ap.add_argument("--meters", type=int, default=400)
    ap.add_argument("--start", default="2024-01-01")
    ap.add_argument("--pad", type=int, default=300, help="bytes of padding in each note")
    ap.add_argument("--totals", help="file for the totals (default: stderr)")
    args = ap.parse_args()

    out = sys.stdout.buffer if args.out == "-" else open(args.out, "wb")
    header = b"Site,Meter,ReadDatetime,kWh,Note\r\n"
    pad = ("x" * args.pad).encode()
    start = datetime.datetime.fromisoformat(args.start)
    # rows a meter, from the size of a typical row
    sample = b'S001,M0001,2024-01-01 00:00:00,123.4,"reading 1, ' + pad + b'"\r\n'
    per_meter = max(1, (args.bytes - len(header)) // (len(sample) * args.meters))
    stamps = [(start + datetime.timedelta(minutes=30 * k)).strftime("%Y-%m-%d %H:%M:%S").encode()
              for k in range(per_meter)]
    written = len(header)
    lines = 1
    readings = 0
    tenths = 0
    out.write(header)
    buf = []
    row = 0
    for m in range(args.meters):
        site = b"S%03d" % (m // 10 + 1)
        meter = b"M%04d" % (m + 1)
        for k in range(per_meter):
            row += 1
            v = (row * 7919) % 10000  # tenths of a kWh: 0.0 .. 999.9
            tenths += v
            readings += 1
            if row % 997 == 0:
                note = b'"reading %d, over\r\ntwo lines ' % row + pad + b'"'
                lines += 2
            else:
                note = b'"reading %d, ' % row + pad + b'"'
                lines += 1
            line = b"%s,%s,%s,%d.%d,%s\r\n" % (site, meter, stamps[k], v // 10, v % 10, note)
            written += len(line)
            buf.append(line)
            if len(buf) >= 4096:
                out.write(b"".join(buf))
                buf = []
    out.write(b"".join(buf))
    out.flush()
    if out is not sys.stdout.buffer:
        out.close()
    totals = "readings|%d\nkwh_tenths|%d\nmeters|%d\nbytes|%d\nlines|%d\n" % (readings, tenths, args.meters, written, lines)
    if args.totals:
        with open(args.totals, "w") as f:
            f.write(totals)
    else:
        sys.stderr.write(totals)


if __name__ == "__main__":
    main()
