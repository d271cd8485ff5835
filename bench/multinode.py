#!/usr/bin/python3
"""Across servers (issue 16), run by bench/multinode.sh with Debian's python3-psycopg2.

    multinode.py ingest ONE S1 S2 HUB1 HUB MANIFEST
        car.push of the manifest's files (read server-side, as COPY reads a
        file) into: (one1) the one-shard federation's shard, one loader;
        (one2) the same shard, two loaders at once (A, B and C, D);
        (two) the two shards, a loader each (A, B into s1, C, D into s2).
        Two rounds, the order turned; the shards' readings, landed files and
        refresh queue emptied before each run (nothing of it is published).
        Then car.refresh() on one, and on s1 and s2 at once, each timed, and
        the time until the hub holds the refreshed rows.
    multinode.py reports HUB_ADMIN ONE_ADMIN HUB_ANALYST ONE_ANALYST TOKEN
        The same reports on the hub and on the single car, interleaved,
        median of 5 runs after a warm-up run; and whether their rows agree.
    multinode.py latency S1 HUB N
        N files pushed by car.push_lo and N day-files COPYed into car.reading
        on s1, interleaved, each with car.refresh() in the same transaction;
        for each, the shard's commit time (its commit timestamp) to the
        moment a listener on the hub is told that the hub's apply committed
        the rows.

Prints "key|value" lines.  Times: client-side (time.perf_counter) for
statements; the latency compares the shard's commit timestamp with the
listener's wall clock (time.time), one clock: every server runs on this
machine.
"""
import datetime
import io
import os
import select
import statistics
import sys
import threading
import time
from zoneinfo import ZoneInfo

import psycopg2

LONDON = ZoneInfo("Europe/London")


def connect(dsn, autocommit=True):
    conn = psycopg2.connect(dsn)
    conn.autocommit = autocommit
    return conn


def one_value(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()[0]


def out(key, value):
    print("%s|%s" % (key, value), flush=True)


def median(xs):
    return statistics.median(xs)


def nearest_rank(xs, p):
    """The p-th percentile by nearest rank: the smallest value with p% of them at or below it."""
    s = sorted(xs)
    k = max(1, -(-len(s) * p // 100))
    return s[int(k) - 1]


TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid, children=False):
    """CPU seconds (user + system) process pid has used, and with children=True those of
    its children it has waited for (a postmaster: every backend that has exited)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15 if children else 13]) / TICK


def cluster_cpu(dsn):
    """CPU seconds used so far by the cluster a DSN's socket folder holds: its postmaster,
    every process it has started that has exited, and those still running."""
    host = dict(kv.split("=", 1) for kv in dsn.split())["host"]
    with open(host + "/data/postmaster.pid") as f:
        pm = int(f.readline())
    t = proc_cpu(pm, children=True)
    with open("/proc/%d/task/%d/children" % (pm, pm)) as f:
        for child in f.read().split():
            try:
                t += proc_cpu(int(child))
            except (FileNotFoundError, ProcessLookupError):
                pass  # exited since: counted with the postmaster's children once waited for
    return t


def machine_busy():
    """CPU seconds the whole machine has been busy (every core, every process), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / TICK  # user nice system irq softirq steal


# --- 1. ingest and refresh --------------------------------------------------------------------

def ingest(one_dsn, s1_dsn, s2_dsn, hub1_dsn, hub_dsn, manifest):
    files = [line.split("|") for line in open(manifest).read().splitlines() if line]
    # (org, name, path, readings); in the order the days came, organisations taking turns
    files.sort(key=lambda f: (f[1][2:], f[0]))
    total = sum(int(f[3]) for f in files)
    ab = [f for f in files if f[0] in ("A", "B")]
    cd = [f for f in files if f[0] in ("C", "D")]
    out("readings", total)
    out("readings_per_shard", "%d %d" % (sum(int(f[3]) for f in ab), sum(int(f[3]) for f in cd)))
    variants = {
        "one1": [(one_dsn, files)],
        "one2": [(one_dsn, ab), (one_dsn, cd)],
        "two": [(s1_dsn, ab), (s2_dsn, cd)],
    }
    shards = [one_dsn, s1_dsn, s2_dsn]
    # the walsender serving each shard's hub (application_name: the hub's subscription)
    sender = {one_dsn: "car_shard_one", s1_dsn: "car_shard_s1", s2_dsn: "car_shard_s2"}
    loaded = set()

    def decoded(dsns):
        """Wait until the walsender of each shard in dsns has read (decoded) all the WAL
        flushed when called, whether or not its changes are published."""
        ends = {}
        for dsn in dsns:
            c = connect(dsn)
            ends[dsn] = (c, one_value(c, "SELECT pg_current_wal_flush_lsn()::text"))
        deadline = time.perf_counter() + 600
        for dsn, (c, lsn) in ends.items():
            while not one_value(c, "SELECT coalesce(bool_and(sent_lsn >= %s::pg_lsn), false) FROM pg_stat_replication "
                                   "WHERE application_name = %s", (lsn, sender[dsn])):
                if time.perf_counter() > deadline:
                    raise SystemExit("the walsender of %s did not reach %s in 10 minutes" % (sender[dsn], lsn))
                time.sleep(0.02)
            c.close()
        return time.perf_counter()

    def reset(dsn):
        c = connect(dsn)
        with c.cursor() as cur:
            cur.execute("TRUNCATE car.reading, car.refresh_queue")
            cur.execute("DELETE FROM car.source_file")
            cur.execute("VACUUM car.source_file, car.source_file_chunk")
        c.close()

    hub_of = {one_dsn: hub1_dsn, s1_dsn: hub_dsn, s2_dsn: hub_dsn}

    def senders(dsns):
        pids = []
        for dsn in dsns:
            c = connect(dsn)
            pids.append(one_value(c, "SELECT pid FROM pg_stat_replication WHERE application_name = %s", (sender[dsn],)))
            c.close()
        return pids

    def cpu_now(dsns, wal_senders):
        """CPU seconds so far: of the shards' clusters, of their walsenders, of the hubs'
        clusters, of the whole machine (these, this client and any other work)."""
        return (sum(cluster_cpu(d) for d in dsns), sum(proc_cpu(p) for p in wal_senders),
                sum(cluster_cpu(h) for h in {hub_of[d] for d in dsns}), machine_busy())

    def load(plan):
        """Run the loaders of plan at once; returns (seconds to the last commit, seconds until
        the walsenders have decoded it all, readings loaded, CPU seconds used meanwhile by the
        shards, their walsenders, the hub)."""
        targets = {dsn for dsn, _ in plan}
        ws = senders(targets)
        conns = [connect(dsn) for dsn, _ in plan]
        done = [None] * len(plan)
        start = threading.Barrier(len(plan) + 1)

        def loader(i, conn, flist):
            n = 0
            with conn.cursor() as cur:
                start.wait()
                for org, name, path, _ in flist:
                    cur.execute("SELECT rows_loaded FROM car.push(%s, %s, pg_read_binary_file(%s))",
                                ("org-" + org, name + ".csv", path))
                    n += cur.fetchone()[0]
            done[i] = (time.perf_counter(), n)

        threads = [threading.Thread(target=loader, args=(i, conns[i], plan[i][1])) for i in range(len(plan))]
        for t in threads:
            t.start()
        c0 = cpu_now(targets, ws)
        start.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        for c in conns:
            c.close()
        if any(d is None for d in done):
            raise SystemExit("a loader failed")
        t_decoded = decoded(targets)
        c1 = cpu_now(targets, ws)
        return (max(d[0] for d in done) - t0, t_decoded - t0, sum(d[1] for d in done)) + tuple(b - a for a, b in zip(c0, c1))

    for rnd, order in ((1, ("one1", "one2", "two")), (2, ("two", "one1", "one2"))):
        for v in order:
            targets = {dsn for dsn, _ in variants[v]}
            for dsn in targets & loaded:
                reset(dsn)
            for dsn in shards:
                c = connect(dsn)
                c.cursor().execute("CHECKPOINT")
                c.close()
            decoded(shards)
            secs, secs_decoded, n, cpu_shards, cpu_senders, cpu_hub, cpu_machine = load(variants[v])
            loaded |= targets
            if n != total:
                raise SystemExit("%s loaded %d readings of %d" % (v, n, total))
            out("ingest_%s_%d" % (v, rnd), "%.3f" % secs)
            out("ingest_%s_%d_decoded" % (v, rnd), "%.3f" % secs_decoded)
            out("ingest_%s_%d_cpu" % (v, rnd), "%.2f %.2f %.2f %.2f" % (cpu_shards, cpu_senders, cpu_hub, cpu_machine))

    # refresh: one, then s1 and s2 at once; then until the hub has the rows (the
    # refresh is one transaction, applied on the hub as one: one row of it shows them all)
    def refresh(plan, hub):
        decoded(plan)
        ws = senders(plan)
        conns = [connect(dsn) for dsn in plan]
        done = [None] * len(plan)
        start = threading.Barrier(len(plan) + 1)

        def run(i):
            with conns[i].cursor() as cur:
                start.wait()
                cur.execute("SELECT car.refresh()")
                done[i] = (time.perf_counter(), cur.fetchone()[0])

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(plan))]
        for t in threads:
            t.start()
        c0 = cpu_now(plan, ws)
        start.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        if any(d is None for d in done):
            raise SystemExit("a refresh failed")
        c1 = cpu_now(plan, ws)
        t1 = max(d[0] for d in done)
        last = [(one_value(c, "SELECT meter_id FROM car.emission_daily ORDER BY meter_id DESC, day DESC LIMIT 1"),
                 one_value(c, "SELECT day FROM car.emission_daily ORDER BY meter_id DESC, day DESC LIMIT 1")) for c in conns]
        h = connect(hub)
        deadline = time.perf_counter() + 600
        while not all(one_value(h, "SELECT count(*) FROM car.emission_daily WHERE meter_id = %s AND day = %s", k) for k in last):
            if time.perf_counter() > deadline:
                raise SystemExit("the hub did not get the refreshed rows in 10 minutes")
            time.sleep(0.01)
        t2 = time.perf_counter()
        c2 = cpu_now(plan, ws)
        rows = sum(one_value(c, "SELECT count(*) FROM car.emission_daily") for c in conns)
        hub_rows = one_value(h, "SELECT count(*) FROM car.emission_daily")
        for c in conns + [h]:
            c.close()
        cpu = ["%.2f %.2f %.2f %.2f" % tuple(b - a for a, b in zip(x, y)) for x, y in ((c0, c1), (c1, c2))]
        return t1 - t0, t2 - t0, sum(d[1] for d in done), rows, hub_rows, cpu

    for name, plan, hub in (("one", [one_dsn], hub1_dsn), ("two", [s1_dsn, s2_dsn], hub_dsn)):
        secs, to_hub, days, rows, hub_rows, cpu = refresh(plan, hub)
        out("refresh_%s" % name, "%.3f" % secs)
        out("refresh_%s_to_hub" % name, "%.3f" % to_hub)
        # CPU seconds of the shards' clusters, their walsenders, the hub's cluster, the machine:
        # during the refresh, then from its commit until the hub has the rows
        out("refresh_%s_cpu" % name, cpu[0])
        out("refresh_%s_to_hub_cpu" % name, cpu[1])
        out("refresh_%s_meter_days" % name, days)
        out("refresh_%s_rows" % name, rows)
        out("refresh_%s_hub_rows" % name, hub_rows)


# --- 2. reports -----------------------------------------------------------------------------

# a report's rows as text, site ids left out (they differ between the federation and the
# single car), numbers rounded to 4 decimals (sums may add rows in another order): as
# test/multinode.sh compares them
DIGEST = """SELECT count(*) || ' ' || coalesce(md5(string_agg(x, E'\\n' ORDER BY x)), '') FROM (
  SELECT (SELECT string_agg(CASE WHEN jsonb_typeof(v) = 'number' THEN round(v::text::numeric, 4)::text ELSE v::text END, '|' ORDER BY k)
          FROM jsonb_each(to_jsonb(r) - 'site_id') e(k, v)) AS x
  FROM %s r) s"""
AGG = "SELECT count(*), round(sum(quantity)::numeric, 3), round(sum(kg_co2e)::numeric, 3) FROM %s r"


def reports(hub_admin, one_admin, hub_analyst, one_analyst, token):
    conns = {("hub", "admin"): connect(hub_admin), ("one", "admin"): connect(one_admin),
             ("hub", "analyst"): connect(hub_analyst), ("one", "analyst"): connect(one_analyst)}
    tok = psycopg2.extensions.adapt(token).getquoted().decode()
    queries = [
        ("monthly", "admin", "car.report_monthly"),
        ("monthly_june", "admin", "(SELECT * FROM car.report_monthly WHERE month = '2023-06-01')"),
        ("yearly", "admin", "car.report_yearly"),
        ("monthly_for", "analyst", "car.report_monthly_for(%s)" % tok),
    ]
    for name, who, rel in queries:
        d = {n: one_value(conns[(n, who)], DIGEST % rel) for n in ("hub", "one")}
        out("report_%s_rows" % name, d["one"].split()[0])
        out("report_%s_same" % name, "yes" if d["hub"] == d["one"] else "no (%s against %s)" % (d["hub"], d["one"]))
    times = {(name, n): [] for name, _, _ in queries for n in ("hub", "one")}
    rounds = 5
    for rnd in range(rounds + 1):
        for name, who, rel in queries:
            for n in (("hub", "one") if rnd % 2 else ("one", "hub")):
                with conns[(n, who)].cursor() as cur:
                    t0 = time.perf_counter()
                    cur.execute(AGG % rel)
                    cur.fetchall()
                    ms = 1000 * (time.perf_counter() - t0)
                if rnd:  # round 0 warms the caches
                    times[(name, n)].append(ms)
    out("report_rounds", rounds)
    for name, _, _ in queries:
        h, o = median(times[(name, "hub")]), median(times[(name, "one")])
        out("report_%s_hub" % name, "%.1f" % h)
        out("report_%s_one" % name, "%.1f" % o)
        out("report_%s_hub_runs" % name, ", ".join("%.0f" % x for x in times[(name, "hub")]))
        out("report_%s_one_runs" % name, ", ".join("%.0f" % x for x in times[(name, "one")]))
        out("report_%s_ratio" % name, "%.2f" % (h / o))


# --- 3. shard commit to hub visibility --------------------------------------------------------

def day_file(day):
    """The half-hours of UK day `day` (48, or 46 or 50 on a day the clocks change) as
    'ts,value' lines, ts in UTC: the rows reach UK day `day` only."""
    t = datetime.datetime.combine(day, datetime.time(0), LONDON).astimezone(datetime.timezone.utc)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(0), LONDON).astimezone(datetime.timezone.utc)
    lines = []
    while t < end:
        lines.append("%s,%.1f\n" % (t.strftime("%Y-%m-%d %H:%M"), 1 + (len(lines) % 7) / 10))
        t += datetime.timedelta(minutes=30)
    return lines


def latency(s1_dsn, hub_dsn, n):
    s1 = connect(s1_dsn, autocommit=False)
    hub = connect(hub_dsn)
    lis = connect(hub_dsn)
    cur = s1.cursor()
    first = datetime.date(2023, 8, 1)

    def push_lo(day):
        lo = s1.lobject(0, "wb")
        lo.write(("ts,value\n" + "".join(day_file(day))).encode())
        oid = lo.oid
        lo.close()
        cur.execute("SELECT rows_loaded FROM car.push_lo('lat-lo', %s, %s)", ("lo-%s.csv" % day, oid))
        loaded = cur.fetchone()[0]
        cur.execute("SELECT car.refresh()")
        cur.execute("SELECT lo_unlink(%s)", (oid,))
        s1.commit()
        return loaded

    def copy(day):
        rows = "".join("%d,%s" % (copy_meter, line.replace(",", "+00,", 1)) for line in day_file(day))
        cur.copy_expert("COPY car.reading (meter_id, ts, quantity) FROM STDIN WITH (FORMAT csv)", io.StringIO(rows))
        loaded = cur.rowcount
        cur.execute("SELECT car.refresh()")
        s1.commit()
        return loaded

    copy_meter = one_value(s1, "SELECT id FROM car.meter WHERE name = 'Latency COPY'")
    # a warm-up of each (the first push makes the meter Latency LO), in July: no listener there
    push_lo(first - datetime.timedelta(days=1))
    copy(first - datetime.timedelta(days=1))
    lo_meter = one_value(s1, "SELECT id FROM car.meter WHERE name = 'Latency LO'")
    s1.commit()

    # the hub tells a listener when its apply commits a latency row: a row trigger, enabled
    # ALWAYS (apply fires no other), on the hub's partitions of the latency months only
    with hub.cursor() as h:
        h.execute("""CREATE FUNCTION public.bench_seen() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN PERFORM pg_notify('bench_seen', NEW.meter_id || ' ' || NEW.day || ' ' || extract(epoch FROM clock_timestamp())); RETURN NULL; END $$""")
        for m in range(8, 13):
            part = "car.emission_daily_p2023%02d" % m
            h.execute("CREATE TRIGGER bench_seen AFTER INSERT ON %s FOR EACH ROW EXECUTE FUNCTION public.bench_seen()" % part)
            h.execute("ALTER TABLE %s ENABLE ALWAYS TRIGGER bench_seen" % part)
    lis.cursor().execute("LISTEN bench_seen")
    # a thread of its own waits on the listener's socket, so that a notification is timed
    # when it arrives, whatever the pushing thread is doing (psycopg2 lets go of the GIL in libpq)
    seen = {}
    arrived = threading.Condition()
    stop = threading.Event()

    def listen():
        while not stop.is_set():
            if select.select([lis], [], [], 0.2)[0]:
                lis.poll()
                now = time.time()
                with arrived:
                    while lis.notifies:
                        p = lis.notifies.pop(0).payload.split(" ")
                        # the first row of the transaction: when the hub's apply wrote it
                        seen.setdefault(" ".join(p[:2]), (now, float(p[2])))
                    arrived.notify_all()

    listener = threading.Thread(target=listen)
    listener.start()

    def wait_seen(payload):
        with arrived:
            if not arrived.wait_for(lambda: payload in seen, timeout=60):
                stop.set()
                raise SystemExit("no notification %s from the hub in 60 s" % payload)
            return seen[payload]

    res = {"lo": [], "copy": []}
    for i in range(n):
        day = first + datetime.timedelta(days=i)
        for kind in (("lo", "copy") if i % 2 == 0 else ("copy", "lo")):
            meter = lo_meter if kind == "lo" else copy_meter
            t0 = time.time()
            loaded = push_lo(day) if kind == "lo" else copy(day)
            t_returned = time.time()
            t_seen, t_applied = wait_seen("%d %s" % (meter, day))
            commit_ts = one_value(s1, "SELECT extract(epoch FROM pg_xact_commit_timestamp(xmin)) FROM car.emission_daily "
                                      "WHERE meter_id = %s AND day = %s LIMIT 1", (meter, day))
            s1.rollback()
            visible = one_value(hub, "SELECT count(*) FROM car.emission_daily WHERE meter_id = %s AND day = %s", (meter, day))
            # every row of the day was written once, by this transaction: the hub cannot have applied it before
            if loaded != len(day_file(day)) or not visible or t_applied < float(commit_ts):
                raise SystemExit("%s %s: %s readings loaded, %s rows on the hub, applied %.6f, shard commit %s"
                                 % (kind, day, loaded, visible, t_applied, commit_ts))
            res[kind].append((1000 * (t_seen - float(commit_ts)), 1000 * (float(commit_ts) - t0), 1000 * (t_returned - float(commit_ts)),
                              1000 * (t_applied - float(commit_ts))))
    stop.set()
    listener.join()
    out("latency_pushes", n)
    out("latency_rows_per_day", one_value(hub, "SELECT count(*) / count(DISTINCT (meter_id, day)) FROM car.emission_daily "
                                               "WHERE meter_id IN (%s, %s) AND day >= %s", (lo_meter, copy_meter, first)))
    for kind, r in res.items():
        lat = [x[0] for x in r]
        out("latency_%s_p50" % kind, "%.1f" % nearest_rank(lat, 50))
        out("latency_%s_p90" % kind, "%.1f" % nearest_rank(lat, 90))
        out("latency_%s_p99" % kind, "%.1f" % nearest_rank(lat, 99))
        out("latency_%s_max" % kind, "%.1f" % max(lat))
        out("latency_%s_min" % kind, "%.1f" % min(lat))
        out("latency_%s_mean" % kind, "%.1f" % statistics.mean(lat))
        out("latency_%s_applied_p50" % kind, "%.1f" % nearest_rank([x[3] for x in r], 50))
        out("latency_%s_applied_p99" % kind, "%.1f" % nearest_rank([x[3] for x in r], 99))
        out("latency_%s_txn_p50" % kind, "%.1f" % nearest_rank([x[1] for x in r], 50))
        out("latency_%s_commit_return_p50" % kind, "%.2f" % nearest_rank([x[2] for x in r], 50))
        out("latency_%s_all" % kind, " ".join("%.1f" % x for x in lat))
        out("latency_%s_applied_all" % kind, " ".join("%.1f" % x[3] for x in r))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "ingest":
        ingest(*args)
    elif cmd == "reports":
        reports(*args)
    elif cmd == "latency":
        latency(args[0], args[1], int(args[2]))
    else:
        raise SystemExit("unknown command %s" % cmd)
