#!/usr/bin/env python3
"""The soak under load (issue 17, point 4), run by bench/soak.sh on its own server.

CLIENTS client threads for SECONDS seconds, each holding three sessions:
  - ingest (a car_ingest login): pushes of real meter files (test/data's
    Cambridge files, each under a source of its own so that every push lands
    new meters; one push in four sends a file already pushed again, which must
    load nothing), pushes of generated eCMS files (2 meters x 2 UK days,
    unique meters and days per push, so the totals are known), plain INSERTs
    of a UK day into car.reading, and a push with a token of another
    organisation (an intended refusal);
  - reader (a car_reader login): car.authenticate(token), report queries under
    row-level security (authenticate, then car.report_monthly; one in four with
    a token of another organisation), car.report_monthly_for(token) and
    car.report_yearly_for(token), and intended refusals (an expired token, a
    token signed with a key car does not hold);
  - admin (a car_admin and car_worker login): car.refresh(), and
    car.add_source when the real-file pushes need new sources.
Meanwhile the background worker polls the loopback web server's index page
every second, a publisher thread lists a new month on it every few seconds
(its latency: from listing to the dataset loaded), pg_cron runs car-refresh
every minute, and a sampler reads every backend's private memory (RssAnon in
/proc/<pid>/status) every SAMPLE seconds.

Each client picks its next operation at random with fixed weights (WEIGHTS) and
runs it at once (a closed loop: no think time), so the server is saturated.
Python threads, not processes or pgbench: psycopg2 releases the interpreter
lock while it waits for the server, the clients' own work (a few hundred
values made a push) is small beside the server's, and each client keeps the
totals of what it sent, which pgbench's scripts could not (the checks need
every generated value and every refusal's reason).

At the end, with the clients stopped and the worker's datasets done, the
pg_cron job removed and car.refresh() run until the queue is empty:
  - errors: every failed statement other than an intended refusal is an
    error; the refusals must fail with their SQLSTATE and reason;
  - readings: per meter, the count and the sum of the quantities in
    car.reading equal what the generator pushed or inserted (the worker's
    months: the web server's .totals.csv files; the real files: their own
    values, read here), and no other meter has readings;
  - emissions: every meter-day of car.reading has its rows in
    car.emission_daily with quantity = the day's sum, and none other; and
    car.refresh(true) recomputes exactly the rows the incremental refreshes
    left (meter, day, component, quantity, kg CO2e);
  - memory: see MEMORY_RULE.
Prints key|value lines; exits 1 when a check fails.
"""
import argparse
import csv
import datetime
import io
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import urllib.request
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg2

LONDON = ZoneInfo("Europe/London")
UTC = datetime.timezone.utc
ORGS = ["Soak A", "Soak B", "Soak C", "Soak D"]
ORG_WEB = "Soak web"
# operation weights (out of 100)
WEIGHTS = {"push_gen": 26, "push_real": 3, "insert": 24, "refresh": 4, "report_rls": 15, "report_for": 10,
           "authenticate": 13, "refused": 5}
# the generated pushes and the INSERTs write days of these three years, in a
# random order (each day once a meter): every session touches every month's
# partitions early, so that the warm-up ends within the first quarter of the run
GEN_FIRST_DAY = datetime.date(2021, 1, 1)
GEN_LAST_DAY = datetime.date(2023, 12, 31)
GEN_DAYS = (GEN_LAST_DAY - GEN_FIRST_DAY).days + 1
WEB_FIRST_MONTH = (2016, 1)
MEMORY_RULE = ("the first quarter of the run is the warm-up; for every client session, the median of its samples "
               "in the last quarter against the median in the second quarter; summed over the sessions, the bytes "
               "used in memory contexts (pg_backend_memory_contexts) grow by at most 2% + 256 kB a session and no "
               "session's by more than 4 MB; the private memory (RssAnon) by at most 10% + 256 kB a session and no "
               "session's by more than 64 MB (it keeps malloc's high-water mark)")


def halfhours(day):
    """UTC starts of the half-hours of a UK local day (46, 48 or 50)."""
    start = datetime.datetime.combine(day, datetime.time(0), LONDON).astimezone(UTC)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(0), LONDON).astimezone(UTC)
    n = int((end - start).total_seconds() // 1800)
    return [start + datetime.timedelta(minutes=30 * k) for k in range(n)]


def pct(values, p):
    """Percentile by nearest rank."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(1, int(-(-len(s) * p // 100)))
    return s[k - 1]


class Refused(Exception):
    pass


class Client(threading.Thread):
    def __init__(self, run, cid):
        super().__init__(daemon=True)
        self.warmed = threading.Event()
        self.run_ = run
        self.cid = cid
        self.org = ORGS[cid % len(ORGS)]
        self.other_org = ORGS[(cid + 1) % len(ORGS)]
        self.rnd = random.Random(cid)
        self.lat = {k: [] for k in list(WEIGHTS) + ["push_retry", "add_source", "memory"]}
        self.refusals = {}
        self.errors = []
        self.expected = {}  # (org, site, meter) -> [readings, Decimal sum]
        self.rows_sent = 0
        self.gen_days = []  # the series' day pairs still to push, in random order
        self.gen_series = -1
        self.ins_days = []
        self.ins_series = -1
        self.real_slot = 0
        self.real_pushed = []  # (source, name, payload, file id)
        self.sources_made = set()

    def connect(self, user, role):
        c = psycopg2.connect(host=self.run_.a.pghost, port=self.run_.a.pgport, dbname=self.run_.a.db, user=user,
                             application_name="soak-c%d-%s" % (self.cid, role))
        c.autocommit = True
        return c

    def add(self, key, n, total):
        e = self.expected.setdefault(key, [0, Decimal(0)])
        e[0] += n
        e[1] += total
        self.rows_sent += n

    # --- operations -----------------------------------------------------
    def op_push_gen(self):
        """An eCMS file of 2 meters x 2 UK days never sent before."""
        if not self.gen_days:  # new meters for the next round of the days
            self.gen_series += 1
            self.gen_days = [GEN_FIRST_DAY + datetime.timedelta(days=d) for d in range(0, GEN_DAYS - 1, 2)]
            self.rnd.shuffle(self.gen_days)
        first = self.gen_days[-1]
        site = "Gen c%d" % self.cid
        meters = ["Electricity meter s%d" % self.gen_series, "Gas meter s%d" % self.gen_series]
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\r\n")
        w.writerow(["Site", "Meter", "Unit", "Date"] + ["%02d:%02d" % divmod(m, 60) for m in range(0, 1500, 30)])
        sums = {}
        for meter in meters:
            n, total = 0, Decimal(0)
            for d in range(2):
                day = first + datetime.timedelta(days=d)
                k = len(halfhours(day))
                vals = [Decimal(self.rnd.randint(0, 99999)) / 1000 for _ in range(k)]
                n += k
                total += sum(vals)
                w.writerow([site, meter, "kWh", day.strftime("%d/%m/%Y")] + [str(v) for v in vals] + [""] * (50 - k))
            sums[meter] = (n, total)
        name = "gen-c%d-s%d-%s.csv" % (self.cid, self.gen_series, first.isoformat())
        with self.ingest.cursor() as cur:
            cur.execute("SELECT status, rows_loaded, rows_rejected FROM car.push(%s, %s, %s)",
                        ("soak-gen-c%d" % self.cid, name, out.getvalue().encode()))
            status, loaded, rejected = cur.fetchone()
        want = sum(n for n, _ in sums.values())
        if status != "loaded" or loaded != want or rejected != 0:
            raise AssertionError("push of %s: %s, %s loaded, %s rejected (sent %d)" % (name, status, loaded, rejected, want))
        for meter, (n, total) in sums.items():
            self.add((self.org, site, meter), n, total)
        self.gen_days.pop()

    def op_push_real(self):
        """A real meter file under a new source (new meter); one in four: a file already pushed, again."""
        if self.real_pushed and self.rnd.random() < 0.25:
            return self.timed("push_retry", self.push_retry)
        files = self.run_.real
        g, i = divmod(self.real_slot, len(files))
        f = files[i]
        source = "soak-real-c%d-g%d-%s" % (self.cid, g, f["kind"])
        site, meter = "Real c%d g%d %s" % (self.cid, g, f["building"]), "c%d g%d %s" % (self.cid, g, f["kind"])
        if source not in self.sources_made:
            def make():
                with self.admin.cursor() as cur:
                    cur.execute("SELECT name FROM car.add_source(%s, NULL, 'push', 'long', %s)",
                                (source, json.dumps({"site": site, "meter": meter, "timezone": "UTC",
                                                     "activity": f["activity"], "org": self.org})))
            self.timed("add_source", make)
            self.sources_made.add(source)
        with self.ingest.cursor() as cur:
            cur.execute("SELECT id, status, rows_loaded, rows_rejected FROM car.push(%s, %s, %s)",
                        (source, f["name"], f["payload"]))
            fid, status, loaded, rejected = cur.fetchone()
        if status != "loaded" or loaded != f["readings"] or rejected != 0:
            raise AssertionError("push of %s to %s: %s, %s loaded, %s rejected" % (f["name"], source, status, loaded, rejected))
        self.add((self.org, site, meter), f["readings"], f["kwh"])
        self.real_pushed.append((source, f["name"], f["payload"], fid))
        self.real_slot += 1

    def push_retry(self):
        source, name, payload, fid = self.rnd.choice(self.real_pushed)
        with self.ingest.cursor() as cur:
            cur.execute("SELECT id FROM car.push(%s, %s, %s)", (source, "again-" + name, payload))
            again = cur.fetchone()[0]
        if again != fid:
            raise AssertionError("the same bytes again for %s made file %s (first %s)" % (source, again, fid))

    def op_insert(self):
        """A plain INSERT of a UK day of half-hours into car.reading."""
        if not self.ins_days:  # a new meter for the next round of the days
            self.ins_series += 1
            self.ins_meter_name = "c%d insert electricity s%d" % (self.cid, self.ins_series)
            with self.ingest.cursor() as cur:
                cur.execute("INSERT INTO car.meter (site_id, name, activity, unit) SELECT id, %s, 'electricity', 'kWh' "
                            "FROM car.site WHERE name = %s RETURNING id", (self.ins_meter_name, "Ins c%d" % self.cid))
                self.ins_meter = cur.fetchone()[0]
            self.ins_days = [GEN_FIRST_DAY + datetime.timedelta(days=d) for d in range(GEN_DAYS)]
            self.rnd.shuffle(self.ins_days)
        ts = halfhours(self.ins_days[-1])
        vals = [Decimal(self.rnd.randint(0, 99999)) / 1000 for _ in ts]
        with self.ingest.cursor() as cur:
            cur.execute("INSERT INTO car.reading (meter_id, ts, quantity) "
                        "SELECT %s, t, q FROM unnest(%s::timestamptz[], %s::float8[]) u(t, q)",
                        (self.ins_meter, ts, [str(v) for v in vals]))
            if cur.rowcount != len(ts):
                raise AssertionError("INSERT wrote %d rows of %d" % (cur.rowcount, len(ts)))
        self.add((self.org, "Ins c%d" % self.cid, self.ins_meter_name), len(ts), sum(vals))
        self.ins_days.pop()

    def op_refresh(self):
        with self.admin.cursor() as cur:
            cur.execute("SELECT car.refresh()")
            cur.fetchone()

    def month(self):
        d = GEN_FIRST_DAY + datetime.timedelta(days=self.rnd.randrange(GEN_DAYS))
        return d.replace(day=1)

    def check_orgs(self, rows, org, what):
        seen = {r[0] for r in rows}
        if seen - {org}:
            raise AssertionError("%s with a token of %s returned rows of %s" % (what, org, sorted(seen - {org})))

    def op_report_rls(self):
        org = self.other_org if self.rnd.random() < 0.25 else self.org
        with self.reader.cursor() as cur:
            cur.execute("SELECT car.authenticate(%s) IS NOT NULL", (self.run_.tokens[org],))
            cur.execute("SELECT organisation, count(*), sum(quantity), sum(kg_co2e) FROM car.report_monthly "
                        "WHERE month = %s GROUP BY 1", (self.month(),))
            self.check_orgs(cur.fetchall(), org, "car.report_monthly")

    def op_report_for(self):
        tok = self.run_.tokens[self.org]
        with self.reader.cursor() as cur:
            if self.rnd.random() < 0.5:
                cur.execute("SELECT organisation, count(*), sum(quantity), sum(kg_co2e) FROM car.report_monthly_for(%s) "
                            "WHERE month = %s GROUP BY 1", (tok, self.month()))
                self.check_orgs(cur.fetchall(), self.org, "car.report_monthly_for")
            else:
                cur.execute("SELECT organisation, count(*), sum(quantity), sum(kg_co2e) FROM car.report_yearly_for(%s) "
                            "GROUP BY 1", (tok,))
                self.check_orgs(cur.fetchall(), self.org, "car.report_yearly_for")

    def op_authenticate(self):
        with self.reader.cursor() as cur:
            cur.execute("SELECT car.authenticate(%s)->>'org'", (self.run_.tokens[self.org],))
            got = cur.fetchone()[0]
        if got != self.org:
            raise AssertionError("car.authenticate gave org %r, not %r" % (got, self.org))

    def op_refused(self):
        """One of three refusals, each of which must fail with its reason."""
        which = self.rnd.randrange(3)
        if which == 0:
            conn, sql, args = self.reader, "SELECT car.authenticate(%s)", (self.run_.tokens["expired"],)
            want, reason = "28000", "invalid token"
        elif which == 1:
            conn, sql, args = self.reader, "SELECT count(*) FROM car.report_monthly_for(%s)", (self.run_.tokens["unknown_key"],)
            want, reason = "28000", "invalid token"
        else:
            conn = self.ingest
            sql = "SELECT id FROM car.push(%s, %s, %s, %s)"
            args = (self.run_.tokens["push_" + self.other_org], "soak-gen-c%d" % self.cid, "refused.csv",
                    b"Site,Meter,Unit,Date,00:00\r\nX,Electricity meter x,kWh,01/01/2020,1\r\n")
            want, reason = "42501", "the token does not allow pushing to source"
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
        except psycopg2.Error as e:
            if e.pgcode == want and reason in (e.pgerror or ""):
                raise Refused(["expired token", "token of an unknown key", "push to another organisation"][which])
            raise
        raise AssertionError("not refused: %s" % sql)

    def sample_contexts(self):
        t = time.monotonic() - self.run_.t0
        for role, c in (("ingest", self.ingest), ("reader", self.reader), ("admin", self.admin)):
            with c.cursor() as cur:
                cur.execute("SELECT sum(used_bytes) FROM pg_backend_memory_contexts")
                self.ctx.append((t, "soak-c%d-%s" % (self.cid, role), int(cur.fetchone()[0])))

    # --- the loop --------------------------------------------------------
    def timed(self, kind, fn):
        t0 = time.monotonic()
        try:
            fn()
        except Refused as r:
            self.lat[kind].append(time.monotonic() - t0)
            self.refusals[str(r)] = self.refusals.get(str(r), 0) + 1
            return
        except Exception as e:  # noqa: BLE001 (every failure is counted, none stops the client)
            msg = (getattr(e, "pgerror", None) or str(e) or type(e).__name__).strip().splitlines()
            self.errors.append("%s: %s" % (kind, msg[0] if msg else type(e).__name__))
            return
        self.lat[kind].append(time.monotonic() - t0)

    def run(self):
        self.finished = False
        self.ingest = self.connect("soak_ingest", "ingest")
        self.reader = self.connect("soak_reader", "reader")
        self.admin = self.connect("soak_admin", "admin")
        kinds = list(WEIGHTS)
        weights = [WEIGHTS[k] for k in kinds]
        self.ctx = []  # (t, session, bytes used in its memory contexts)
        # warm-up, before the clock starts (not timed): every session opens every
        # partition of the readings and the emissions (and their indexes) once,
        # every kind of operation runs twice, and this client's refresh session
        # recomputes something at least once (a refresh returns 0 at once while
        # another runs)
        for c in (self.ingest, self.reader, self.admin):
            with c.cursor() as cur:
                cur.execute("SELECT (SELECT count(*) FROM car.reading WHERE meter_id = -1), "
                            "(SELECT count(*) FROM car.emission_daily WHERE meter_id = -1)")
        for kind in kinds + kinds:
            self.timed(kind, getattr(self, "op_" + kind))
        def refreshed():
            self.op_push_gen()
            with self.admin.cursor() as cur:
                cur.execute("SELECT car.refresh()")
                self.warm_refreshed = cur.fetchone()[0] > 0
        self.warm_refreshed = False
        for _ in range(100):
            self.timed("refresh", refreshed)
            if self.warm_refreshed:
                break
            time.sleep(0.1 + self.rnd.random() / 2)
        for v in self.lat.values():
            v.clear()
        self.refusals.clear()
        self.warmed.set()
        self.run_.ready.wait()
        next_sample = 0.0
        while not self.run_.stop.is_set():
            kind = self.rnd.choices(kinds, weights)[0]
            self.timed(kind, getattr(self, "op_" + kind))
            t = time.monotonic() - self.run_.t0
            if t >= next_sample:
                next_sample = t + self.run_.a.sample
                self.timed("memory", self.sample_contexts)
        if self.cid == 0:  # what the sessions hold at the end, by context
            self.top = []
            for role, c in (("ingest", self.ingest), ("reader", self.reader), ("admin", self.admin)):
                with c.cursor() as cur:
                    cur.execute("SELECT name, sum(used_bytes) FROM pg_backend_memory_contexts "
                                "GROUP BY 1 ORDER BY 2 DESC LIMIT 4")
                    self.top.append((role, cur.fetchall()))
        for c in (self.ingest, self.reader, self.admin):
            c.close()
        self.finished = True


class Run:
    def __init__(self, a):
        self.a = a
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.samples = []  # (t, pid, application_name, backend_type, kB)
        self.published = {}  # 'mon-yyyy' -> publish time
        self.web_done = {}  # 'mon-yyyy' -> seconds from listing to loaded
        self.web_errors = []

    def conn(self):
        c = psycopg2.connect(host=self.a.pghost, port=self.a.pgport, dbname=self.a.db, user="postgres",
                             application_name="soak-ctl")
        c.autocommit = True
        return c

    def sql(self, q, args=None):
        with self.db.cursor() as cur:
            cur.execute(q, args)
            return cur.fetchall() if cur.description else None

    def token(self, payload, key, kid="soak-hs"):
        return subprocess.run([sys.executable, self.a.mktoken, "--header", json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}),
                               "--payload", json.dumps(payload), "--sign", "hs256", "--key", key],
                              check=True, capture_output=True, text=True).stdout.strip()

    def setup(self):
        a = self.a
        self.db = self.conn()
        self.sql("SET client_min_messages = warning")
        self.sql("CREATE EXTENSION pg_cron")
        self.sql("CREATE EXTENSION car")
        self.sql("SELECT car.grant_roles()")
        for y in (2016, 2017, 2018, 2021, 2022, 2023, 2024):
            self.sql("SELECT car.load_factors(%s)", (y,))
        self.sql("SELECT car.ensure_partitions('2016-01-01', '2026-12-01')")
        self.sql("CREATE ROLE soak_ingest LOGIN IN ROLE car_ingest")
        self.sql("CREATE ROLE soak_reader LOGIN IN ROLE car_reader")
        self.sql("CREATE ROLE soak_admin LOGIN IN ROLE car_admin, car_worker")
        # the sessions read their own memory contexts (superusers' only by default)
        self.sql("GRANT SELECT ON pg_backend_memory_contexts TO soak_ingest, soak_reader, soak_admin")
        self.sql("GRANT EXECUTE ON FUNCTION pg_get_backend_memory_contexts() TO soak_ingest, soak_reader, soak_admin")
        self.sql("INSERT INTO car.jwt_key (kid, alg, key) VALUES ('soak-hs', 'HS256', %s)",
                 (open(os.path.join(a.keys, "hs.key")).read(),))
        hs, other = os.path.join(a.keys, "hs.key"), os.path.join(a.keys, "other.key")
        exp = "NOW+%d" % (a.seconds + 3600)
        self.tokens = {o: self.token({"sub": "soak", "org": o, "exp": exp}, hs) for o in ORGS}
        for o in ORGS:
            self.tokens["push_" + o] = self.token({"sub": "soak", "org": o, "scope": "push", "exp": exp}, hs)
        self.tokens["expired"] = self.token({"sub": "soak", "org": ORGS[0], "exp": "NOW-600"}, hs)
        self.tokens["unknown_key"] = self.token({"sub": "soak", "org": ORGS[0], "exp": exp}, other, kid="soak-other")
        for c in range(a.clients):
            org = ORGS[c % len(ORGS)]
            self.sql("SELECT car.add_source(%s, NULL, 'push', 'ecodriver', %s)", ("soak-gen-c%d" % c, json.dumps({"org": org})))
            self.sql("INSERT INTO car.site (name, org) VALUES (%s, %s)", ("Ins c%d" % c, org))
        # the real files: their readings and kWh read here (a value a row, hourly, UTC)
        self.real = []
        for name in sorted(os.listdir(a.real)):
            payload = open(os.path.join(a.real, name), "rb").read()
            rows = list(csv.reader(io.StringIO(payload.decode())))[1:]
            vals = [Decimal(r[1]) for r in rows if len(r) > 1 and r[1] != ""]
            building, fuel = name.split("_")[2], name.split("_")[3]
            self.real.append({"name": name, "payload": payload, "readings": len(vals), "kwh": sum(vals),
                              "building": building, "kind": "%s-%s" % (building, fuel),
                              "activity": "electricity" if fuel == "electricity" else "natural_gas"})
        # the worker's source: the web server's index page, polled every second
        self.http("reset=1")
        self.sql("SELECT car.add_source('soak-web', %s, 'index', 'ecodriver', %s, '1 second')",
                 ("http://127.0.0.1:%d/eCMS/Viewfiles.asp?folder=MOJ" % a.http_port,
                  json.dumps({"pattern": "ministryofjustice_[a-z]{3}-[0-9]{4}\\.csv$", "org": ORG_WEB})))
        # pg_cron refreshes every minute besides the clients' calls
        self.sql("SELECT * FROM car.schedule('* * * * *')")
        self.sql("VACUUM ANALYZE")

    def http(self, q):
        with urllib.request.urlopen("http://127.0.0.1:%d/_control?%s" % (self.a.http_port, q), timeout=30) as r:
            r.read()

    # --- the worker's side: a month listed every few seconds ----------------
    def publisher(self):
        db = self.conn()
        every = max(2.0, self.a.seconds / 120.0)
        y, m = WEB_FIRST_MONTH
        nxt = time.monotonic()
        mons = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        pending = {}
        while True:
            now = time.monotonic()
            if not self.stop.is_set() and now >= nxt and (y, m) <= (2026, 10):
                stem = "%s-%04d" % (mons[m - 1], y)
                # made by the server's generator ahead of listing it (not timed)
                urllib.request.urlopen("http://127.0.0.1:%d/eCMS/Files/MOJ/ministryofjustice_%s.csv" % (self.a.http_port, stem),
                                       timeout=60).read()
                self.http("publish=%04d-%02d" % (y, m))
                self.published[stem] = time.monotonic()
                pending[stem] = self.published[stem]
                y, m = (y + 1, 1) if m == 12 else (y, m + 1)
                nxt += every
            if pending:
                with db.cursor() as cur:
                    cur.execute("SELECT d.uri, d.state, d.last_error FROM car.dataset d JOIN car.source s ON s.id = d.source_id "
                                "WHERE s.name = 'soak-web' AND d.state IN ('done', 'failed')")
                    for uri, state, err in cur.fetchall():
                        stem = uri.rsplit("_", 1)[1][:-4]
                        if stem in pending:
                            if state == "failed":
                                self.web_errors.append("%s: %s" % (stem, err))
                            self.web_done[stem] = time.monotonic() - pending.pop(stem)
            if self.stop.is_set() and (not pending or time.monotonic() > self.stopped_at + 180):
                for stem in pending:
                    self.web_errors.append("%s: not loaded within 180 s of the end" % stem)
                break
            time.sleep(0.2)
        db.close()

    # --- memory ---------------------------------------------------------------
    def sampler(self):
        db = self.conn()
        t0 = self.t0
        while not self.sampling_done.is_set():
            with db.cursor() as cur:
                cur.execute("SELECT pid, application_name, backend_type FROM pg_stat_activity")
                rows = cur.fetchall()
            t = time.monotonic() - t0
            for pid, app, btype in rows:
                try:
                    with open("/proc/%d/status" % pid) as f:
                        kb = next(int(l.split()[1]) for l in f if l.startswith("RssAnon:"))
                except (OSError, StopIteration):
                    continue
                self.samples.append((t, pid, app or "", btype or "", kb))
            self.sampling_done.wait(self.a.sample)
        db.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pghost", required=True)
    ap.add_argument("--pgport", type=int, required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--http-port", type=int, required=True)
    ap.add_argument("--http-dir", required=True)
    ap.add_argument("--real", required=True)
    ap.add_argument("--keys", required=True)
    ap.add_argument("--mktoken", required=True)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--samples-csv", help="write every memory sample here")
    ap.add_argument("--sample", type=float, default=2.0, help="seconds between memory samples")
    a = ap.parse_args()
    if a.clients < 1 or a.seconds <= 0:
        ap.error("--clients must be at least 1 and --seconds above 0")
    run = Run(a)
    out = []

    def emit(k, v):
        out.append("%s|%s" % (k, v))
        print("%s|%s" % (k, v), flush=True)

    def log(msg):
        print("soak: %s" % msg, file=sys.stderr, flush=True)

    t_setup = time.monotonic()
    run.setup()
    emit("setup_seconds", "%.1f" % (time.monotonic() - t_setup))
    emit("clients", a.clients)
    emit("seconds", "%g" % a.seconds)
    emit("weights", ", ".join("%s %d" % kv for kv in WEIGHTS.items()))
    clients = [Client(run, c) for c in range(a.clients)]
    for c in clients:
        c.start()
    t_warm = time.monotonic()
    for c in clients:
        c.warmed.wait(max(1, 600 - (time.monotonic() - t_warm)))
    emit("warmup_seconds", "%.1f" % (time.monotonic() - t_warm))
    run.sampling_done = threading.Event()
    threads = [threading.Thread(target=run.sampler, daemon=True), threading.Thread(target=run.publisher, daemon=True)]
    t0 = run.t0 = time.monotonic()
    run.ready.set()
    for t in threads:
        t.start()
    log("running %d clients for %g s" % (a.clients, a.seconds))
    while time.monotonic() - t0 < a.seconds:
        time.sleep(min(10, max(0.1, a.seconds - (time.monotonic() - t0))))
        log("%.0f s" % (time.monotonic() - t0))
    run.stopped_at = time.monotonic()
    run.stop.set()
    for c in clients:
        c.join()
    elapsed = time.monotonic() - t0
    run.sampling_done.set()
    threads[0].join()
    log("clients stopped; waiting for the worker's last months")
    threads[1].join()
    emit("elapsed_seconds", "%.1f" % elapsed)

    # --- throughput and latency -------------------------------------------------
    kinds = list(clients[0].lat)
    total_ops = 0
    for k in kinds:
        lat = [x for c in clients for x in c.lat[k]]
        total_ops += len(lat)
        if not lat:
            continue
        emit("ops_%s" % k, "%d|%.1f|%.1f|%.1f|%.1f" % (len(lat), len(lat) / elapsed, 1000 * pct(lat, 50),
                                                      1000 * pct(lat, 99), 1000 * max(lat)))
    emit("ops_all", "%d|%.1f" % (total_ops, total_ops / elapsed))
    wl = list(run.web_done.values())
    emit("web_months", "%d|%d|%.2f|%.0f|%.0f|%.0f" % (len(run.published), len(wl), len(wl) / elapsed,
                                                      1000 * pct(wl, 50), 1000 * pct(wl, 99), 1000 * max(wl or [0])))
    refusals = {}
    for c in clients:
        for r, n in c.refusals.items():
            refusals[r] = refusals.get(r, 0) + n
    for r, n in sorted(refusals.items()):
        emit("refusal", "%s|%d" % (r, n))
    errors = [e for c in clients for e in c.errors] + ["worker: " + e for e in run.web_errors]
    errors += ["client %d stopped before the end" % c.cid for c in clients if not getattr(c, "finished", False)]
    fails = []
    emit("errors", len(errors))
    for e in errors[:20]:
        emit("error", e)
    if errors:
        fails.append("%d errors" % len(errors))

    # --- the end state ---------------------------------------------------------------
    db = run.conn()
    cur = db.cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute("SELECT car.unschedule()")
    # wait for a pg_cron refresh that may still run, then refresh until nothing is queued
    t1 = time.monotonic()
    for _ in range(600):
        cur.execute("SELECT car.refresh()")
        cur.execute("SELECT count(*) FROM car.refresh_queue")
        if cur.fetchone()[0] == 0:
            break
        time.sleep(0.5)
    cur.execute("SELECT count(*) FROM car.refresh_queue")
    left = cur.fetchone()[0]
    emit("final_refresh_seconds", "%.1f" % (time.monotonic() - t1))
    emit("queue_left", left)
    if left:
        fails.append("%d meter-days still queued" % left)

    # the pg_cron jobs (car-refresh every minute, car-maintenance) all succeeded
    cur.execute("SELECT count(*), count(*) FILTER (WHERE status <> 'succeeded'), "
                "string_agg(DISTINCT left(return_message, 200), '; ') FILTER (WHERE status <> 'succeeded') "
                "FROM cron.job_run_details")
    cron_runs, cron_failed, cron_msg = cur.fetchone()
    emit("cron_runs", "%d|%d" % (cron_runs, cron_failed))
    if cron_failed:
        emit("cron_error", cron_msg)
        fails.append("%d of %d pg_cron job runs failed" % (cron_failed, cron_runs))

    # nothing the generators sent was a bad row, and no fetch of the worker failed, even once
    cur.execute("SELECT count(*) FROM car.ingest_error")
    bad_rows = cur.fetchone()[0]
    cur.execute("SELECT count(*), count(*) FILTER (WHERE d.last_error IS NOT NULL OR d.state <> 'done') "
                "FROM car.dataset d JOIN car.source s ON s.id = d.source_id WHERE s.name = 'soak-web'")
    datasets, datasets_failed = cur.fetchone()
    emit("ingest_errors", bad_rows)
    emit("web_datasets", "%d|%d" % (datasets, datasets_failed))
    if bad_rows or datasets_failed or datasets != len(run.published):
        fails.append("%d rows in car.ingest_error, %d of the worker's %d datasets failed (%d months listed)"
                     % (bad_rows, datasets_failed, datasets, len(run.published)))

    expected = {}
    for c in clients:
        for k, (n, s) in c.expected.items():
            e = expected.setdefault(k, [0, Decimal(0)])
            e[0] += n
            e[1] += s
    web_files = 0
    for stem in run.published:
        path = os.path.join(a.http_dir, "ministryofjustice_%s.totals.csv" % stem)
        web_files += 1
        with open(path) as f:
            for row in list(csv.reader(f))[1:]:
                if row[0] == "(rejected rows)":
                    continue
                e = expected.setdefault((ORG_WEB, row[0], row[1]), [0, Decimal(0)])
                e[0] += int(row[2])
                e[1] += Decimal(row[3])
    cur.execute("SELECT s.org, s.name, m.name, count(*), sum(r.quantity::numeric) FROM car.reading r "
                "JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id GROUP BY 1, 2, 3")
    stored = {(o, s, m): (n, q) for o, s, m, n, q in cur.fetchall()}
    cur.execute("SELECT count(*) FROM car.reading r WHERE NOT EXISTS (SELECT FROM car.meter m WHERE m.id = r.meter_id)")
    orphans = cur.fetchone()[0]
    exp_n = sum(n for n, _ in expected.values())
    got_n = sum(n for n, _ in stored.values()) + orphans
    lost = dup = wrong_sum = 0
    bad = []
    for k in set(expected) | set(stored):
        en, es = expected.get(k, (0, Decimal(0)))
        gn, gs = stored.get(k, (0, Decimal(0)))
        if gn < en:
            lost += en - gn
        if gn > en:
            dup += gn - en
        if gn == en and gs != es:
            wrong_sum += 1
        if gn != en or gs != es:
            bad.append("%s / %s / %s: %d readings, sum %s; expected %d, sum %s" % (k + (gn, gs, en, es)))
    emit("readings_expected", exp_n)
    emit("readings_stored", got_n)
    emit("meters_checked", len(set(expected) | set(stored)))
    emit("readings_lost", lost)
    emit("readings_duplicated", dup + orphans)
    emit("meters_wrong_sum", wrong_sum)
    emit("web_files_checked", web_files)
    for b in bad[:10]:
        emit("reading_mismatch", b)
    if bad or orphans:
        fails.append("%d meters differ from the generator's totals" % len(bad))

    # emission_daily against the readings, then against a full recompute
    cur.execute("""
        WITH r AS (SELECT meter_id, (ts AT TIME ZONE 'Europe/London')::date AS day, sum(quantity) AS q
                   FROM car.reading GROUP BY 1, 2),
             e AS (SELECT meter_id, day, min(quantity) AS lo, max(quantity) AS hi FROM car.emission_daily GROUP BY 1, 2)
        SELECT count(*), count(*) FILTER (WHERE e.meter_id IS NULL), count(*) FILTER (WHERE r.meter_id IS NULL),
               count(*) FILTER (WHERE abs(e.lo - r.q) > 1e-9 * greatest(1, abs(r.q))
                                   OR abs(e.hi - r.q) > 1e-9 * greatest(1, abs(r.q)))
        FROM r FULL JOIN e ON e.meter_id = r.meter_id AND e.day = r.day""")
    md, missing, extra, differ = cur.fetchone()
    emit("meter_days", md)
    emit("emission_days_missing", missing)
    emit("emission_days_extra", extra)
    emit("emission_days_differ", differ)
    if missing or extra or differ:
        fails.append("car.emission_daily differs from car.reading: %d missing, %d extra, %d differ" % (missing, extra, differ))
    cur.execute("CREATE TEMP TABLE before_full AS SELECT meter_id, day, component, quantity, kg_co2e FROM car.emission_daily")
    t1 = time.monotonic()
    cur.execute("SELECT car.refresh(true)")
    emit("full_refresh_seconds", "%.1f" % (time.monotonic() - t1))
    cur.execute("""
        SELECT count(*) FROM (
            (SELECT * FROM before_full EXCEPT ALL
             SELECT meter_id, day, component, quantity, kg_co2e FROM car.emission_daily)
            UNION ALL
            (SELECT meter_id, day, component, quantity, kg_co2e FROM car.emission_daily EXCEPT ALL
             SELECT * FROM before_full)) d""")
    full_diff = cur.fetchone()[0]
    cur.execute("SELECT count(*) FROM before_full")
    emit("emission_rows", cur.fetchone()[0])
    emit("emission_rows_differ_from_full", full_diff)
    if full_diff:
        fails.append("%d rows of car.emission_daily differ from car.refresh(true)'s" % full_diff)
        # which, and by how much (float8 bits as text: a last-bit difference shows)
        cur.execute("""
            SELECT coalesce(b.meter_id, e.meter_id), coalesce(b.day, e.day), coalesce(b.component, e.component),
                   float8send(b.quantity), float8send(e.quantity), b.kg_co2e::text, e.kg_co2e::text,
                   (SELECT count(DISTINCT file_id) FROM car.reading r WHERE r.meter_id = coalesce(b.meter_id, e.meter_id)
                      AND (r.ts AT TIME ZONE 'Europe/London')::date = coalesce(b.day, e.day))
            FROM before_full b FULL JOIN car.emission_daily e
              ON e.meter_id = b.meter_id AND e.day = b.day AND e.component = b.component
            WHERE b.quantity IS DISTINCT FROM e.quantity OR b.kg_co2e IS DISTINCT FROM e.kg_co2e
            ORDER BY 1, 2, 3 LIMIT 12""")
        for row in cur.fetchall():
            emit("full_diff_row", "|".join("" if v is None else (bytes(v).hex() if isinstance(v, memoryview) else str(v)) for v in row))
    db.close()

    # --- memory over time ---------------------------------------------------------
    # two views of each client session: the bytes used in its memory contexts
    # (pg_backend_memory_contexts, read by the session itself: what a leak in
    # PostgreSQL or car grows; used, not total: a context's blocks grow in
    # steps, CacheMemoryContext's from 4 to 8 MB at once), and its private memory as the kernel counts it
    # (RssAnon, read from /proc by the sampler: with malloc's retained free
    # space, and what libraries allocate outside the contexts)
    if a.samples_csv:
        with open(a.samples_csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["seconds", "session", "backend_type", "kind", "kB"])
            for t, pid, app, btype, kb in run.samples:
                w.writerow(["%.1f" % t, app or pid, btype, "RssAnon", kb])
            for c in clients:
                for t, app, b in c.ctx:
                    w.writerow(["%.1f" % t, app, "client backend", "contexts_used", b // 1024])
    is_client = lambda app: re.match(r"soak-c[0-9]+-", app) is not None  # noqa: E731
    T = elapsed
    ctx = {}
    for c in clients:
        for t, app, b in c.ctx:
            ctx.setdefault(app, []).append((t, b / 1024.0))
    rss = {}
    for t, pid, app, btype, kb in run.samples:
        if is_client(app):
            rss.setdefault(app, []).append((t, kb))
    q2 = lambda v: pct([x for t, x in v if T / 4 <= t < T / 2], 50)  # noqa: E731
    q4 = lambda v: pct([x for t, x in v if t >= 3 * T / 4], 50)  # noqa: E731
    spans = lambda d: {k: v for k, v in d.items()  # noqa: E731
                       if any(T / 4 <= t < T / 2 for t, _ in v) and any(t >= 3 * T / 4 for t, _ in v)}
    ctx, rss = spans(ctx), spans(rss)
    slices = 10
    for i in range(slices):
        lo, hi = T * i / slices, T * (i + 1) / slices
        # a session's median in the slice, or its last sample before it (a long report may span a slice)
        at = lambda v: (pct([x for t, x in v if lo <= t < hi], 50) if any(lo <= t < hi for t, _ in v)  # noqa: E731
                        else next((x for t, x in reversed(v) if t < lo), float("nan")))
        c_now = [x for x in map(at, ctx.values()) if x == x]
        r_now = [x for x in map(at, rss.values()) if x == x]
        if c_now and r_now:
            emit("memory_at", "%.0f|%d|%.1f|%.1f|%.1f|%.1f" % ((lo + hi) / 2, len(r_now), sum(c_now) / 1024, max(c_now) / 1024,
                                                           sum(r_now) / 1024, max(r_now) / 1024))
    for role in ("ingest", "reader", "admin"):
        cv = [v for k, v in ctx.items() if k.endswith("-" + role)]
        rv = [v for k, v in rss.items() if k.endswith("-" + role)]
        if cv and rv:
            emit("memory_role", "%s|%d|%.1f|%.1f|%.1f|%.1f" % (
                role, len(rv), sum(q2(v) for v in cv) / 1024 / len(cv), sum(q4(v) for v in cv) / 1024 / len(cv),
                sum(q2(v) for v in rv) / 1024 / len(rv), sum(q4(v) for v in rv) / 1024 / len(rv)))
    if getattr(clients[0], "top", None):
        for role, rows in clients[0].top:
            emit("memory_top_c0_" + role, ", ".join("%s %.1f MB" % (n, b / 1048576) for n, b in rows))
    # the server's own processes (car's launcher among them), for the record
    other = {}
    for t, pid, app, btype, kb in run.samples:
        if not is_client(app) and app != "soak-ctl":
            other.setdefault((pid, btype), []).append((t, kb))
    for (pid, btype), v in sorted(spans(other).items(), key=lambda kv: kv[0][1]):
        emit("memory_process", "%s|%.1f|%.1f" % (btype, q2(v) / 1024, q4(v) / 1024))
    emit("memory_rule", MEMORY_RULE)
    for name, d, pct_max, one_max in (("contexts", ctx, 2.0, 4096), ("rss", rss, 10.0, 64 * 1024)):
        s2 = sum(q2(v) for v in d.values())
        s4 = sum(q4(v) for v in d.values())
        worst = max(((q4(v) - q2(v), k) for k, v in d.items()), default=(0, ""))
        emit("memory_%s" % name, "%d|%.1f|%.1f|%.1f|%.2f|%s|%.1f" % (
            len(d), s2 / 1024, s4 / 1024, (s4 - s2) / 1024, 100.0 * (s4 - s2) / s2 if s2 else 0, worst[1], worst[0] / 1024))
        if len(d) < 3 * a.clients:
            fails.append("memory (%s): %d of %d sessions sampled through the run" % (name, len(d), 3 * a.clients))
        elif s4 - s2 > pct_max / 100 * s2 + 256 * len(d) or worst[0] > one_max:
            fails.append("memory (%s) grew after warm-up: %.1f MB (%.1f%%), worst session %s +%.1f MB"
                         % (name, (s4 - s2) / 1024, 100.0 * (s4 - s2) / s2, worst[1], worst[0] / 1024))

    emit("checks", "failed: " + "; ".join(fails) if fails else "passed")
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
