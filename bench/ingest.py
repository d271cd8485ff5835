#!/usr/bin/python3
"""Ingestion benchmark (issue 3), run by bench/run.sh with Debian's python3-psycopg2.

In one run, on the same private server and the same partitioned car.reading:
  (a) car.push of an ecodriver file (meter-day rows x 48 half-hours);
  (b) COPY of the same readings already pivoted to long form (the hand-made best path);
  (c) a Python loader like the ones car replaces: csv module + psycopg2 execute_values.
Each is timed on an emptied table (partitions kept), median of N runs; then the
backend's peak private memory while pushing a large file is sampled from /proc.
Prints "key|value" lines for run.sh.
"""
import csv
import datetime
import io
import os
import statistics
import sys
import threading
import time
from zoneinfo import ZoneInfo

import psycopg2
import psycopg2.extras

dsn, eco, big, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
LONDON = ZoneInfo("Europe/London")
conn = psycopg2.connect(dsn)
conn.autocommit = True
cur = conn.cursor()


def reset():
    cur.execute("TRUNCATE car.reading")
    cur.execute("DELETE FROM car.source_file")


def backend_cpu():
    """This connection's backend's CPU seconds so far (Linux /proc/<pid>/schedstat), or None."""
    try:
        with open("/proc/%d/schedstat" % conn.get_backend_pid()) as f:
            return int(f.read().split()[0]) / 1e9
    except OSError:
        return None


def timed(fn, client=False):
    """Median wall seconds and median CPU seconds (the backend's, and this process's when client) of runs."""
    times = []
    cpus = []
    for _ in range(runs):
        reset()
        cur.execute("CHECKPOINT")
        c0, p0 = backend_cpu(), time.process_time()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        c1, p1 = backend_cpu(), time.process_time()
        if c0 is not None and c1 is not None:
            cpus.append(c1 - c0 + (p1 - p0 if client else 0))
    return statistics.median(times), (statistics.median(cpus) if cpus else None)


def show(key, fn, client=False):
    wall, cpu = timed(fn, client)
    print("%s|%.3f" % (key, wall))
    if cpu is not None:
        print("%s_cpu|%.3f" % (key, cpu))


cur.execute("SELECT car.add_source('bench', NULL, 'push', 'ecodriver', '{}') IS NOT NULL")


def push():
    # the file is read server-side, as COPY reads its file: neither pays for the client link
    cur.execute("SELECT rows_loaded FROM car.push('bench', 'eco.csv', pg_read_binary_file(%s))", (eco,))
    return cur.fetchone()[0]


reset()
n = push()  # makes the sites, meters and partitions once
cur.execute("SELECT s.name, m.name, m.id FROM car.meter m JOIN car.site s ON s.id = m.site_id")
ids = {(s, m): i for s, m, i in cur.fetchall()}


def pivot():
    """The file's readings as (meter_id, ts, quantity) rows, the Python way."""
    with open(eco, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        for row in r:
            mid = ids[(row[0], row[1])]
            d = datetime.datetime.strptime(row[3], "%d/%m/%Y")
            base = d.replace(tzinfo=LONDON).astimezone(datetime.timezone.utc)
            for k, v in enumerate(row[4:52]):
                if v:
                    yield (mid, base + datetime.timedelta(minutes=30 * k), float(v))


long_path = os.path.join(os.path.dirname(eco), "long.csv")
with open(long_path, "w", newline="") as f:
    w = csv.writer(f)
    for mid, ts, q in pivot():
        w.writerow([mid, ts.isoformat(), q])
os.chmod(long_path, 0o644)


def copy_long():
    cur.execute("COPY car.reading (meter_id, ts, quantity) FROM %s WITH (FORMAT csv)", (long_path,))


def python_loader():
    batch = []
    for row in pivot():
        batch.append(row)
        if len(batch) == 10000:
            psycopg2.extras.execute_values(cur, "INSERT INTO car.reading (meter_id, ts, quantity) VALUES %s", batch, page_size=10000)
            batch = []
    if batch:
        psycopg2.extras.execute_values(cur, "INSERT INTO car.reading (meter_id, ts, quantity) VALUES %s", batch, page_size=10000)


print("readings|%d" % n)
show("push", push)
cur.execute("SELECT count(*) FROM car.reading")
print("push_rows|%d" % cur.fetchone()[0])
show("copy", copy_long)
cur.execute("SELECT count(*) FROM car.reading")
print("copy_rows|%d" % cur.fetchone()[0])
show("python", python_loader, client=True)
cur.execute("SELECT count(*) FROM car.reading")
print("python_rows|%d" % cur.fetchone()[0])

# Peak private (anonymous) memory of the backend while it pushes a large file
# read server-side, sampled every 10 ms from /proc; compared with the file size.
reset()
cur.execute("SELECT pg_backend_pid()")
pid = cur.fetchone()[0]


def rss_anon():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


before = rss_anon()
samples = []
done = threading.Event()


def sample():
    while not done.is_set():
        try:
            samples.append(rss_anon())
        except OSError:
            pass
        time.sleep(0.01)


t = threading.Thread(target=sample)
t.start()
t0 = time.perf_counter()
cur.execute("SELECT rows_loaded FROM car.push('bench', 'big.csv', pg_read_binary_file(%s))", (big,))
big_rows = cur.fetchone()[0]
elapsed = time.perf_counter() - t0
done.set()
t.join()
size = os.path.getsize(big)
print("big_bytes|%d" % size)
print("big_rows|%d" % big_rows)
print("big_seconds|%.3f" % elapsed)
peak = max(samples)
# the load phase: after the peak (car 1.0's landing spike, PostgreSQL forming and
# TOASTing the raw file's row; since 1.1 the file lands in 1 MB pieces, with no
# spike) has fallen back, while the readings stream into the table
ipeak = samples.index(peak)
# (it is over once memory is back within 64 MB of before + payload; the load
# phase's own peak is then whatever comes after, however high)
back = [i for i in range(ipeak, len(samples)) if samples[i] < before + size + 64 * 1048576]
load_peak = max(samples[back[0]:]) if back else peak
print("big_rss_before|%d" % before)
print("big_rss_peak|%d" % peak)
print("big_overhead_mb|%.1f" % ((peak - before - size) / 1048576))
print("big_load_overhead_mb|%.1f" % ((load_peak - before - size) / 1048576))
