#!/usr/bin/env python3
"""Responses of the GB Carbon Intensity API, in its recorded shapes, made up
deterministically for car's tests (stdlib only; nothing is downloaded).

The shapes follow the API's documentation (carbon-intensity.github.io/
api-definitions, "Carbon Intensity - National" and "- Regional"):

  GET /intensity/{from}/{to}
      {"data": [{"from": "2018-01-20T12:00Z", "to": "2018-01-20T12:30Z",
                 "intensity": {"forecast": 266, "actual": 263, "index": "moderate"}}, ...]}
  GET /regional/intensity/{from}/{to}/regionid/{regionid}
      {"data": {"regionid": 13, "dnoregion": "UKPN London", "shortname": "London",
                "data": [{"from": ..., "to": ..., "intensity": {"forecast": 266, "index": "moderate"},
                          "generationmix": [{"fuel": "gas", "perc": 43.6}, ...]}, ...]}}

Times are UTC, written YYYY-MM-DDThh:mmZ.  As the live service does (see
carbon-intensity/api-definitions issue 17: asking from 19:30 returns the
period 19:00-19:30), a request returns the half-hours that END within
[from, to], so the period ending at {from} comes first.  The regional
endpoints publish forecasts only.

Values, for the half-hour number n = (seconds since 1970) / 1800 and region
r (0 for GB, else the regionid):
  forecast = 60 + (37 n + 101 r) mod 240                      (gCO2/kWh)
  actual   = forecast + ((7 n + r) mod 21) - 10              (national only)
  index    = from the value shown (actual, else forecast):
             < 100 very low, < 150 low, < 200 moderate, < 250 high, else very high
What the state (a dict) changes:
  actual_lag_hours  actuals only for half-hours ending at least this long ago (default 1)
  forecast_only     no actual at all (a server that has lost them)
  forecast_shift    added to every forecast (a revised forecast)
  horizon_hours     forecasts only for half-hours starting before now + this (default 48)
  gap_modulus       half-hours with n mod gap_modulus = 0 are left out (0: none)

  python3 test/gen/intensity.py --from 2024-01-01T00:00Z --to 2024-01-02T00:00Z [--region 13]
prints one response.
"""
import argparse
import datetime as dt
import json
import sys
import time

HALF_HOUR = 1800
# shortname as the documentation's list of regions names them; dnoregion as its
# examples show it where they do (3, 15-17), else made up
SHORTNAMES = ["North Scotland", "South Scotland", "North West England", "North East England", "Yorkshire",
              "North Wales", "South Wales", "West Midlands", "East Midlands", "East England",
              "South West England", "South England", "London", "South East England", "England", "Scotland", "Wales"]
REGIONS = {i + 1: ({3: "Electricity North West", 15: "England", 16: "Scotland", 17: "Wales"}.get(i + 1, "DNO area " + str(i + 1)),
                   name) for i, name in enumerate(SHORTNAMES)}
FUELS = ["biomass", "coal", "imports", "gas", "nuclear", "other", "hydro", "solar", "wind"]


def parse(s):
    """YYYY-MM-DDThh:mmZ (or YYYY-MM-DD) to seconds since 1970."""
    fmt = "%Y-%m-%dT%H:%MZ" if "T" in s else "%Y-%m-%d"
    return int(dt.datetime.strptime(s, fmt).replace(tzinfo=dt.timezone.utc).timestamp())


def fmt(t):
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def band(v):
    return ("very low" if v < 100 else "low" if v < 150 else "moderate" if v < 200
            else "high" if v < 250 else "very high")


def forecast(n, r, state):
    return 60 + (37 * n + 101 * r) % 240 + int(state.get("forecast_shift", 0))


def actual(n, r):
    return 60 + (37 * n + 101 * r) % 240 + (7 * n + r) % 21 - 10


def periods(t_from, t_to, r, state, now):
    """The half-hours a request returns: those ending within [from, to]."""
    lag = float(state.get("actual_lag_hours", 1)) * 3600
    horizon = float(state.get("horizon_hours", 48)) * 3600
    gap = int(state.get("gap_modulus", 0))
    start = (t_from - HALF_HOUR) // HALF_HOUR * HALF_HOUR
    if start + HALF_HOUR < t_from:
        start += HALF_HOUR
    out = []
    for s in range(start, t_to - HALF_HOUR + 1, HALF_HOUR):
        n = s // HALF_HOUR
        if s >= now + horizon or (gap and n % gap == 0):
            continue
        f = forecast(n, r, state)
        if r == 0 and not state.get("forecast_only") and s + HALF_HOUR <= now - lag:
            a = actual(n, r)
            out.append({"from": fmt(s), "to": fmt(s + HALF_HOUR),
                        "intensity": {"forecast": f, "actual": a, "index": band(a)}})
        elif r == 0:
            out.append({"from": fmt(s), "to": fmt(s + HALF_HOUR),
                        "intensity": {"forecast": f, "actual": None, "index": band(f)}})
        else:
            mix, left = [], 1000
            for i, fuel in enumerate(FUELS):
                p = left if i == len(FUELS) - 1 else (n * (i + 3) + r * 7) % (left // 3 + 1)
                left -= p
                mix.append({"fuel": fuel, "perc": p / 10})
            out.append({"from": fmt(s), "to": fmt(s + HALF_HOUR),
                        "intensity": {"forecast": f, "index": band(f)}, "generationmix": mix})
    return out


def national(t_from, t_to, state=None, now=None):
    return {"data": periods(t_from, t_to, 0, state or {}, time.time() if now is None else now)}


def regional(t_from, t_to, regionid, state=None, now=None):
    dno, short = REGIONS[regionid]
    return {"data": {"regionid": regionid, "dnoregion": dno, "shortname": short,
                     "data": periods(t_from, t_to, regionid, state or {}, time.time() if now is None else now)}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--from", dest="t_from", required=True)
    ap.add_argument("--to", dest="t_to", required=True)
    ap.add_argument("--region", default="GB")
    a = ap.parse_args()
    t_from, t_to = parse(a.t_from), parse(a.t_to)
    body = national(t_from, t_to) if a.region == "GB" else regional(t_from, t_to, int(a.region))
    json.dump(body, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
