#!/usr/bin/env python3
"""Deterministic generator of ecodriver (eCMS) meter files for car's tests.

Writes FILE.csv in the eCMS layout (Site, Meter, Unit, Date, then one column
per half-hour labelled by its start, 00:00 ... 24:30 so that the 50
half-hours of the day the clocks go back fit) and FILE.totals.csv with what a
correct loader must end up with: per meter, the number of readings and their
sum, and the rows it must reject.

The local days are in Europe/London.  The range includes the spring day the
clocks go forward (46 half-hours: the last two columns of the 48 stay empty)
and the autumn day they go back (50 half-hours).  Some half-hours are blank
(missing readings), and a few junk rows are mixed in.  Python's standard
library only; the same arguments always give the same bytes.
"""
import argparse
import csv
import datetime
import random
from decimal import Decimal
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def halfhours(day):
    """Half-hours from local midnight of day to the next local midnight."""
    start = datetime.datetime.combine(day, datetime.time(0), LONDON)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(0), LONDON)
    return int((end.astimezone(datetime.timezone.utc) - start.astimezone(datetime.timezone.utc)).total_seconds() // 1800)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, help="path without extension")
    ap.add_argument("--sites", type=int, default=3)
    ap.add_argument("--meters", type=int, default=2, help="meters per site")
    ap.add_argument("--start", default="2024-03-28")
    ap.add_argument("--days", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--junk", type=int, default=2, help="junk rows to mix in")
    ap.add_argument("--blank-every", type=int, default=97, help="leave every Nth half-hour blank (0: none)")
    ap.add_argument("--extra-days", default="2024-10-27", help="comma-separated extra days (the autumn change)")
    args = ap.parse_args()

    rnd = random.Random(args.seed)
    labels = ["%02d:%02d" % divmod(m, 60) for m in range(0, 50 * 30, 30)]
    start = datetime.date.fromisoformat(args.start)
    days = [start + datetime.timedelta(days=i) for i in range(args.days)]
    days += [datetime.date.fromisoformat(d) for d in args.extra_days.split(",") if d]
    totals = {}
    rows = []
    counter = 0
    for s in range(1, args.sites + 1):
        for m in range(1, args.meters + 1):
            kind = "Electricity" if m % 2 else "Gas"
            site, meter = "Site %d" % s, "%s meter %d" % (kind, m)
            n, total = 0, Decimal(0)
            for day in days:
                values = []
                for k in range(50):
                    counter += 1
                    if k >= halfhours(day) or (args.blank_every and counter % args.blank_every == 0):
                        values.append("")
                        continue
                    v = Decimal(rnd.randint(0, 99999)) / 1000
                    values.append(str(v))
                    n += 1
                    total += v
                rows.append([site, meter, "kWh", day.strftime("%d/%m/%Y")] + values)
            totals[(site, meter)] = (n, total)
    junk = []
    for j in range(args.junk):
        pos = rnd.randrange(len(rows) + 1)
        bad = ["Site 1", "Electricity meter 1", "kWh", "not a date"] + ["1"] * 50 if j % 2 == 0 else \
            ["Site 1", "Electricity meter 1", "kWh", "01/01/2024"] + ["n/a"] + [""] * 49
        rows.insert(pos, bad)
        junk.append(bad)
    with open(args.out + ".csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(["Site", "Meter", "Unit", "Date"] + labels)
        w.writerows(rows)
    with open(args.out + ".totals.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["site", "meter", "readings", "kwh"])
        for (site, meter), (n, total) in sorted(totals.items()):
            w.writerow([site, meter, n, total])
        w.writerow(["(rejected rows)", "", len(junk), 0])


if __name__ == "__main__":
    main()
