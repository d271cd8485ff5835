#!/usr/bin/env python3
"""Writes the same meter readings in every dialect car accepts (issue 13).

For each dialect, one or more files and the source options to read them
with; and the readings every one of them must load to, exactly:

  OUT/expected.csv    meter,ts,quantity   (ts as a UTC instant, ISO 8601)
  OUT/manifest.tsv    dialect, format, options (JSON), file: tab-separated, no header
  OUT/<dialect>.*     the files

The readings: three meters (two MPAN cores and a zero-padded meter id),
half-hourly, over three local days in Europe/London: Saturday 30 March 2024,
the spring day the clocks go forward (46 half-hours) and the autumn day they
go back (27 October, 50 half-hours).  Values have three decimals, some below
1 (so a file's decimal separator shows) and some of 1,000 and more (so its
thousands separator does).

Dialects: each layout (ecodriver, halfhourly, long); period-start and
period-end labels (HH:MM, [HH:MM], ranges, kWh_N, a final 00:00 and on past
midnight, the wall-clock labels of a clock-change day's own file); UK and ISO
dates, with a T, with UTC offsets and Z, fractional seconds, 12-hour clocks,
24:00, separate date and time columns, midnight as the date alone; each in
',' with a decimal point and in ';' with a decimal comma (thousands points,
spaces or no-break spaces); and each written with one of LF, CRLF, CR, mixed
line ends, a UTF-8 byte-order mark, UTF-16LE or UTF-16BE, with or without a
supplier's preamble.  Standard library only; the same arguments give the
same bytes.
"""
import argparse
import csv
import datetime
import io
import json
import os
import random
from decimal import Decimal
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
UTC = datetime.timezone.utc
DAYS = [datetime.date(2024, 3, 30), datetime.date(2024, 3, 31), datetime.date(2024, 10, 27)]
METERS = ["2336533093112", "2200012767323", "0012345678"]


def halfhours(day):
    """The instants (UTC) at which the local day's half-hours start."""
    start = datetime.datetime.combine(day, datetime.time(0), LONDON).astimezone(UTC)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(0), LONDON).astimezone(UTC)
    out = []
    t = start
    while t < end:
        out.append(t)
        t += datetime.timedelta(minutes=30)
    return out


def readings(seed):
    """{(meter, utc instant): Decimal}, in meter, then time order."""
    rnd = random.Random(seed)
    r = {}
    for m in METERS:
        for day in DAYS:
            for t in halfhours(day):
                kind = rnd.randrange(10)
                if kind == 0:
                    v = Decimal(rnd.randint(1000000, 2500000)) / 1000  # 1,000.000 to 2,500.000
                elif kind < 4:
                    v = Decimal(rnd.randint(1, 999)) / 1000  # 0.001 to 0.999
                else:
                    v = Decimal(rnd.randint(1000, 99999)) / 1000
                r[(m, t)] = v
    return r


# -------------------------------------------------------------- numbers


def number(v, locale, group=False):
    """v (a Decimal with up to 3 decimals) as a locale writes it."""
    s = "%.3f" % v
    whole, frac = s.split(".")
    frac = frac.rstrip("0")
    if group and len(whole) > 3:
        sep = {"point": ",", "comma": ".", "space": " ", "nbsp": "\u00a0"}[locale]
        whole = whole[:-3] + sep + whole[-3:]
    dec = "." if locale == "point" else ","
    return whole + (dec + frac if frac else "")


# ---------------------------------------------------------------- dates


def local(t):
    return t.astimezone(LONDON)


def uk_date(d):
    return d.strftime("%d/%m/%Y")


def clock(minutes):
    return "%02d:%02d" % divmod(minutes, 60)


# --------------------------------------------------------------- layouts


def wide(r, header_prefix, labels, row_cells, locale, group):
    """Meter-day rows: header_prefix + labels; row_cells(meter, day) gives a row's cells before its values."""
    rows = [header_prefix + labels]
    for m in METERS:
        for day in DAYS:
            ts = halfhours(day)
            values = [number(r[(m, t)], locale, group) for t in ts]
            values += [""] * (len(labels) - len(values))
            rows.append(row_cells(m, day) + values)
    return rows


def wide_dialects(r):
    """(name, format, options, files(locale, group) -> [(suffix, rows)]) for the wide layouts."""
    start50 = [clock(i * 30) for i in range(50)]  # 00:00 ... 24:30
    end50_brackets = ["[%s]" % clock((i + 1) * 30) for i in range(50)]  # [00:30] ... [25:00]
    end50_wrap = [clock(((i + 1) * 30) % 1440) for i in range(50)]  # 00:30 ... 23:30, 00:00, 00:30, 01:00
    ranges50 = ["%s-%s" % (clock(i * 30), clock(((i + 1) * 30) % 1440)) for i in range(50)]
    kwh = ["kWh_%d" % (i + 1) for i in range(50)]

    def one(header, labels, cells):
        return lambda loc, g: [("", wide(r, header, labels, cells, loc, g))]

    yield "eco_start", "ecodriver", {}, one(["Site", "Meter", "Unit", "Date"], start50,
                                            lambda m, d: ["Site " + m[-3:], m, "kWh", uk_date(d)])
    yield "hh_end_brackets", "halfhourly", {"meter_column": "ID", "site_column": "Location"}, \
        one(["ID", "Date", "Location", "Units"], end50_brackets,
            lambda m, d: [m, d.strftime("%b %d %Y 12:00AM"), "School " + m[-3:], "kWh"])
    yield "hh_end_final_midnight", "halfhourly", {}, one(["Meter ID", "Reading Date"], end50_wrap,
                                                        lambda m, d: [m, d.isoformat()])
    yield "hh_ranges", "halfhourly", {}, one(["Meter", "Date"], ranges50, lambda m, d: [m, uk_date(d)])
    yield "hh_kwh_n", "halfhourly", {}, one(["siteRef", "Meter", "ConsumptionDate"], kwh,
                                          lambda m, d: ["School", m, uk_date(d)])

    # a file per day, labelled by the wall clock: 46, 48 and 50 columns
    def per_day(end):
        def files(loc, g):
            out = []
            for day in DAYS:
                ts = halfhours(day)
                marks = [local(t + datetime.timedelta(minutes=30 if end else 0)) for t in ts]
                labels = [clock(x.hour * 60 + x.minute) for x in marks]
                rows = [["Meter", "Date"] + labels]
                for m in METERS:
                    rows.append([m, uk_date(day)] + [number(r[(m, t)], loc, g) for t in ts])
                out.append(("-" + day.isoformat(), rows))
            return out
        return files
    yield "hh_wallclock_start", "halfhourly", {}, per_day(False)
    yield "hh_wallclock_end", "halfhourly", {"period": "end"}, per_day(True)


def long_rows(r, header, stamp, locale, group, end=False):
    rows = [header]
    for m in METERS:
        for day in DAYS:
            for t in halfhours(day):
                at = t + datetime.timedelta(minutes=30) if end else t
                rows.append(stamp(m, at) + [number(r[(m, t)], locale, group)])
    return rows


def long_dialects(r):
    def iso_local(m, t):
        return [m, local(t).strftime("%Y-%m-%d %H:%M:%S")]

    def iso_offset(m, t):
        return [m, local(t).isoformat()]  # 2024-10-27T01:30:00+01:00

    def utc_z(m, t):
        return [m, t.strftime("%Y-%m-%dT%H:%M:%S.000Z")]

    def uk_end_2400(m, t):
        lt = local(t)
        if lt.hour == 0 and lt.minute == 0:  # the end of the day before, written 24:00
            return [m, uk_date(lt.date() - datetime.timedelta(days=1)) + " 24:00"]
        return [m, lt.strftime("%d/%m/%Y %H:%M")]

    def twelve_hour(m, t):
        lt = local(t)
        return [m, "%s %d:%02d %s" % (uk_date(lt.date()), (lt.hour + 11) % 12 + 1, lt.minute, "AM" if lt.hour < 12 else "PM")]

    def date_and_time(m, t):
        lt = local(t)
        return [m, uk_date(lt.date()), lt.strftime("%H:%M")]

    def midnight_alone(m, t):
        lt = local(t)
        if lt.hour == 0 and lt.minute == 0:
            return [m, uk_date(lt.date())]
        return [m, lt.strftime("%d/%m/%Y %H:%M")]

    yield "long_iso_local", {"meter_column": "meter"}, ["meter", "timestamp", "kWh"], iso_local, False
    yield "long_iso_offset", {"meter_column": "Meter ID"}, ["Meter ID", "ts", "value"], iso_offset, False
    yield "long_utc_z", {"meter_column": "meter", "timezone": "Europe/Paris"}, ["meter", "datetime", "kWh"], utc_z, False
    yield "long_uk_end_2400", {"meter_column": "meter", "period": "end"}, ["meter", "Read Datetime", "Consumption"], uk_end_2400, True
    yield "long_12_hour", {"meter_column": "meter"}, ["meter", "timestamp", "usage"], twelve_hour, False
    yield "long_date_and_time", {"meter_column": "meter"}, ["meter", "Date", "Time", "kWh"], date_and_time, False
    yield "long_midnight_alone", {"meter_column": "meter"}, ["meter", "timestamp", "kWh"], midnight_alone, False


# --------------------------------------------------------------- writing

PREAMBLE = [["Half-hourly consumption report"], ["Customer:", "Example School Trust"], ["Account:", "AC-000123"],
            ["Period:", "30/03/2024 to 27/10/2024"], ["Units:", "kWh"], [], ["Generated by the supplier's portal"]]
ENDINGS = ["lf", "crlf", "cr", "mixed", "bom_crlf", "utf16le", "utf16be"]


def render(rows, delim, ending, preamble):
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delim, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    if preamble:
        w.writerows(PREAMBLE)
    w.writerows(rows)
    lines = buf.getvalue().split("\n")[:-1]
    if ending in ("crlf", "bom_crlf", "utf16le"):
        text = "".join(l + "\r\n" for l in lines)
    elif ending == "cr":
        text = "".join(l + "\r" for l in lines)
    elif ending == "mixed":
        text = "".join(l + ("\r\n", "\n", "\r")[i % 3] for i, l in enumerate(lines))
    else:
        text = "".join(l + "\n" for l in lines)
    if ending == "bom_crlf":
        return b"\xef\xbb\xbf" + text.encode("utf-8")
    if ending == "utf16le":
        return b"\xff\xfe" + text.encode("utf-16-le")
    if ending == "utf16be":
        return b"\xfe\xff" + text.encode("utf-16-be")
    return text.encode("utf-8")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, help="folder")
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    r = readings(args.seed)
    with open(os.path.join(args.out, "expected.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["meter", "ts", "quantity"])
        for (m, t), v in r.items():
            w.writerow([m, t.strftime("%Y-%m-%d %H:%M:%S+00"), "%.3f" % v])

    # each dialect in ',' with a decimal point and in ';' with a decimal comma (thousands points);
    # two also with space and no-break-space thousands; line ends and preambles in turn, so that
    # every one is met several times
    locales = [(",", "point", True), (";", "comma", True)]
    more = {"hh_kwh_n": [(";", "space", True)], "long_iso_local": [(";", "nbsp", True)]}
    manifest = []
    n = 0
    dialects = list(wide_dialects(r))
    for name, opts, header, stamp, end in long_dialects(r):
        dialects.append((name, "long", opts,
                         (lambda header, stamp, end: lambda loc, g: [("", long_rows(r, header, stamp, loc, g, end))])(header, stamp, end)))
    for name, fmt, opts, files in dialects:
        for delim, loc, group in locales + more.get(name, []):
            dialect = "%s_%s" % (name, "comma" if delim == "," else "semicolon_" + loc)
            options = dict(opts)
            options.setdefault("activity", "electricity")
            options["org"] = dialect
            for suffix, rows in files(loc, group):
                ending = ENDINGS[n % len(ENDINGS)]
                preamble = n % 3 == 1
                n += 1
                fname = "%s%s.%s%s.csv" % (dialect, suffix, ending, ".preamble" if preamble else "")
                with open(os.path.join(args.out, fname), "wb") as f:
                    f.write(render(rows, delim, ending, preamble))
                manifest.append([dialect, fmt, json.dumps(options, sort_keys=True), fname])
    # one dialect in every line ending, with and without a preamble
    for i, ending in enumerate(ENDINGS):
        for preamble in (False, True):
            dialect = "eco_start_every_ending_%s%s" % (ending, "_preamble" if preamble else "")
            rows = wide(r, ["Site", "Meter", "Unit", "Date"], [clock(j * 30) for j in range(50)],
                        lambda m, d: ["Site " + m[-3:], m, "kWh", uk_date(d)], "point", False)
            fname = dialect + ".csv"
            with open(os.path.join(args.out, fname), "wb") as f:
                f.write(render(rows, ",", ending, preamble))
            manifest.append([dialect, "ecodriver", json.dumps({"activity": "electricity", "org": dialect}, sort_keys=True), fname])
    with open(os.path.join(args.out, "manifest.tsv"), "w", newline="") as f:
        for row in manifest:
            f.write("\t".join(row) + "\n")


if __name__ == "__main__":
    main()
