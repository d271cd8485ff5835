#!/usr/bin/python3
"""Live data benchmark (issue 7), run by bench/run.sh with Debian's python3-psycopg2.

usage: live.py DSN [SECONDS_1K SECONDS_10K RUNS]

(1) Latency of NOTIFY car_readings.  A writer commits batches of 100 readings
    (one INSERT into car.reading, one transaction each), paced at 1,000 and
    10,000 readings a second (10 and 100 transactions a second).  A listener
    (its own process and connection: LISTEN car_readings, select() on the
    socket, poll()) stamps each notification on arrival, then reads what it
    announces ({"seq": N}) from the change feed, car.changes_since(N - 1),
    and stamps again.  Latency = the stamp - return of the writer's commit(),
    both on CLOCK_MONOTONIC, one machine.  Notifications are matched to
    batches by what the feed says of them (first and last period = the
    batch's own timestamp, 100 rows).
    In the same run a poller (its own process and connection) does what the
    earlier system did: every 2 s, ask for the readings newer than the last it
    saw; a batch's latency is then the return of the first poll that saw it
    minus its commit.
(2) Insert throughput with car.notify on and off (a listener connected and
    draining in both): 3,000 transactions of 100 readings each, and one bulk
    INSERT ... SELECT * FROM car.simulate(...) of about a million readings;
    the modes interleaved, RUNS runs each, table emptied and CHECKPOINT
    before every run.  For the small transactions a third mode: car.notify
    off, the client sending NOTIFY car_readings with a payload of the same
    size in the same statement (PostgreSQL's own notification cost).

Prints "key|value" lines for run.sh (times in ms unless named _seconds).
"""
import datetime
import json
import multiprocessing as mp
import random
import select
import sys
import time

import psycopg2

CHANNEL = "car_readings"
BATCH = 100
POLL_EVERY = 2.0


def now():
    # system-wide monotonic clock: the same in every process of the machine
    return time.clock_gettime(time.CLOCK_MONOTONIC)


READ = ("SELECT sum(rows), min(first_period), max(last_period) FROM car.changes_since(%s) WHERE seq = %s")


def iso(ts):
    """A timestamp as car writes "from"/"to" in its payload."""
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def pct(values, p):
    """Percentile p (0-100), linear between the closest ranks."""
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


# ---------------------------------------------------------------- children

def listener(dsn, ready, ctl, keep_payloads, read=False):
    """LISTEN; stamp every notification on arrival (and, with read, read the
    change it names from the feed and stamp again); on "stop", send them back."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    conn.cursor().execute("LISTEN " + CHANNEL)
    reader = psycopg2.connect(dsn) if read else None
    if reader:
        reader.autocommit = True
    ready.set()
    got = []
    count = 0
    stopping = False
    while True:
        r, _, _ = select.select([conn, ctl], [], [], 0.2 if stopping else 5)
        if conn in r:
            conn.poll()
            t = now()
            while conn.notifies:
                n = conn.notifies.pop(0)
                count += 1
                if reader:
                    seq = json.loads(n.payload)["seq"]
                    c = reader.cursor()
                    c.execute(READ, (seq - 1, seq))
                    rows, first, last = c.fetchone()
                    got.append((t, n.payload, now(), rows,
                                first and iso(first.astimezone(datetime.timezone.utc)),
                                last and iso(last.astimezone(datetime.timezone.utc))))
                elif keep_payloads:
                    got.append((t, n.payload))
        if ctl in r:
            ctl.recv()
            stopping = True
        elif stopping and not r:
            break  # told to stop and nothing more for 200 ms
    ctl.send((count, got))
    conn.close()
    if reader:
        reader.close()


def poller(dsn, ready, ctl, after, before):
    """Every 2 s: the batches (timestamps) newer than the newest seen so far."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET jit = off")
    ready.set()
    polls = []  # (returned at, query ms, [batch keys])
    last = after
    t0 = now()
    k = 1
    while True:
        wait = t0 + k * POLL_EVERY - now()
        if ctl.poll(max(wait, 0)):
            break
        k += 1
        q0 = now()
        cur.execute("SELECT ts, count(*) FROM car.reading WHERE ts > %s AND ts < %s GROUP BY ts ORDER BY ts",
                    (last, before))
        rows = cur.fetchall()
        q1 = now()
        if rows:
            last = rows[-1][0]
        polls.append((q1, 1000 * (q1 - q0), [(iso(ts.astimezone(datetime.timezone.utc)), n) for ts, n in rows]))
    ctl.recv()
    ctl.send(polls)
    conn.close()


def start(ctx, target, *args):
    ready = ctx.Event()
    here, there = ctx.Pipe()
    p = ctx.Process(target=target, args=(args[0], ready, there) + args[1:])
    p.start()
    if not ready.wait(30):
        raise SystemExit("live.py: a child did not connect")
    return p, here


def finish(p, ctl):
    ctl.send("stop")
    out = ctl.recv()
    p.join()
    return out


# ---------------------------------------------------------------- main

INSERT = ("INSERT INTO car.reading (meter_id, ts, quantity) "
          "SELECT m, %s::timestamptz, q FROM unnest(%s::int[], %s::float8[]) u(m, q)")


def batches(meters, base, n, seed):
    """n batches: all the meters at one minute each, from base on."""
    rnd = random.Random(seed)
    out = []
    for k in range(n):
        ts = base + datetime.timedelta(minutes=k)
        out.append((iso(ts), [round(rnd.uniform(0.05, 1.0), 4) for _ in meters]))
    return out


def latency(ctx, dsn, conn, meters, rate, seconds, base):
    """One paced run; prints the live_RATE_* and poll_RATE_* lines."""
    tx_rate = rate / BATCH
    n = int(round(tx_rate * seconds))
    todo = batches(meters, base, n, rate)
    end = base + datetime.timedelta(minutes=n)
    lp, lctl = start(ctx, listener, dsn, True, True)
    pp, pctl = start(ctx, poller, dsn, base - datetime.timedelta(minutes=1), end)
    cur = conn.cursor()
    commits = {}  # key -> (commit sent, commit returned)
    late = 0
    t0 = now() + 0.1
    for k, (key, qs) in enumerate(todo):
        due = t0 + k / tx_rate
        wait = due - now()
        if wait > 0:
            time.sleep(wait)
        elif wait < -0.5 / tx_rate:
            late += 1
        cur.execute(INSERT, (key, meters, qs))
        c0 = now()
        conn.commit()
        c1 = now()
        commits[key] = (c0, c1)
    t_end = now()
    time.sleep(POLL_EVERY + 0.5)  # the poller's next round sees the last batches
    polls = finish(pp, pctl)
    count, got = finish(lp, lctl)

    lat, lat_sent, lat_note, bad = [], [], [], 0
    seen = set()
    for t, payload, t_read, rows, first, last in got:
        key = first
        if key not in commits or last != key or rows != BATCH or key in seen:
            bad += 1
            continue
        seen.add(key)
        lat.append(1000 * (t_read - commits[key][1]))
        lat_sent.append(1000 * (t_read - commits[key][0]))
        lat_note.append(1000 * (t - commits[key][1]))
    commit_ms = [1000 * (c1 - c0) for c0, c1 in commits.values()]
    p = "live_%d_" % rate
    print(p + "sent|%d" % n)
    print(p + "received|%d" % count)
    print(p + "matched|%d" % len(lat))
    print(p + "unmatched|%d" % bad)
    print(p + "seconds|%.2f" % (t_end - t0))
    print(p + "achieved_rate|%.0f" % (n * BATCH / (t_end - t0)))
    print(p + "late_batches|%d" % late)
    print(p + "commit_p50|%.3f" % pct(commit_ms, 50))
    print(p + "commit_p99|%.3f" % pct(commit_ms, 99))
    for q in (50, 95, 99):
        print(p + "p%d|%.3f" % (q, pct(lat, q)))
    print(p + "max|%.3f" % max(lat))
    print(p + "min|%.3f" % min(lat))
    print(p + "negative|%d" % sum(1 for x in lat if x < 0))
    print(p + "from_sent_p50|%.3f" % pct(lat_sent, 50))
    print(p + "from_sent_p99|%.3f" % pct(lat_sent, 99))
    print(p + "notification_only_p50|%.3f" % pct(lat_note, 50))
    print(p + "notification_only_p99|%.3f" % pct(lat_note, 99))

    plat = []
    for t, _, keys in polls:
        for key, rows in keys:
            if key in commits and rows == BATCH:
                plat.append(1000 * (t - commits[key][1]))
    qms = [q for _, q, _ in polls]
    p = "poll_%d_" % rate
    print(p + "polls|%d" % len(polls))
    print(p + "query_p50|%.3f" % pct(qms, 50))
    print(p + "query_max|%.3f" % max(qms))
    print(p + "matched|%d" % len(plat))
    for q in (50, 95, 99):
        print(p + "p%d|%.1f" % (q, pct(plat, q)))
    print(p + "max|%.1f" % max(plat))
    print(p + "min|%.1f" % min(plat))
    # analytically: commits uniform over the 2 s between polls, plus the query
    print(p + "expected_p50|%.1f" % (0.50 * 1000 * POLL_EVERY + pct(qms, 50)))
    print(p + "expected_p99|%.1f" % (0.99 * 1000 * POLL_EVERY + pct(qms, 50)))
    sys.stdout.flush()


def empty(cur):
    cur.execute("TRUNCATE car.change")
    cur.execute("TRUNCATE car.reading")
    cur.execute("TRUNCATE car.refresh_queue")
    cur.execute("CHECKPOINT")


def main():
    dsn = sys.argv[1]
    s1k = float(sys.argv[2]) if len(sys.argv) > 2 else 30
    s10k = float(sys.argv[3]) if len(sys.argv) > 3 else 20
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    ctx = mp.get_context("spawn")

    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute("CREATE EXTENSION IF NOT EXISTS car")
    cur.execute("SELECT (car.load_factors(2024)).id IS NOT NULL")
    cur.execute("SELECT id FROM car.simulate_setup(10, 10)")
    meters = [r[0] for r in cur.fetchall()]
    assert len(meters) == BATCH, meters
    cur.execute("SELECT car.ensure_partitions('2024-01-01', '2024-12-31')")
    cur.execute("SHOW car.notify")
    print("notify_default|%s" % cur.fetchone()[0])
    print("meters|%d" % len(meters))
    print("sites|10")
    empty(cur)

    # (1) latency, car.notify at its default (on)
    conn.autocommit = False
    base = datetime.datetime(2024, 2, 1, tzinfo=datetime.timezone.utc)
    latency(ctx, dsn, conn, meters, 1000, s1k, base)
    base = datetime.datetime(2024, 3, 1, tzinfo=datetime.timezone.utc)
    latency(ctx, dsn, conn, meters, 10000, s10k, base)
    # one payload as the listener gets it
    lp, lctl = start(ctx, listener, dsn, True)
    cur = conn.cursor()
    key, qs = batches(meters, datetime.datetime(2024, 3, 20, tzinfo=datetime.timezone.utc), 1, 0)[0]
    cur.execute(INSERT, (key, meters, qs))
    conn.commit()
    _, got = finish(lp, lctl)
    print("payload_bytes|%d" % len(got[0][1].encode()))
    print("payload|%s" % got[0][1])

    # (2) throughput, notify on vs off, interleaved; a listener draining.  A
    # third mode, "pg": car.notify off, and the client sends NOTIFY car_readings
    # with the same payload in the same statement: what PostgreSQL's own
    # notification machinery costs, without car's summary
    conn.autocommit = True
    cur = conn.cursor()
    payload = got[0][1]
    ntx = 3000
    todo = batches(meters, datetime.datetime(2024, 4, 1, tzinfo=datetime.timezone.utc), ntx, 7)
    bulk_from = datetime.datetime(2024, 6, 1, tzinfo=datetime.timezone.utc)
    bulk_to = bulk_from + datetime.timedelta(minutes=10050)
    print("tx_transactions|%d" % ntx)
    print("tx_readings|%d" % (ntx * BATCH))
    lp, lctl = start(ctx, listener, dsn, False)
    modes = ("on", "off", "pg")
    for run in range(1, runs + 1):
        for i in range(len(modes)):
            mode = modes[(i + run - 1) % len(modes)]
            empty(cur)
            cur.execute("SET car.notify = " + ("on" if mode == "on" else "off"))
            conn.autocommit = False
            t0 = now()
            if mode == "pg":
                for key, qs in todo:
                    cur.execute(INSERT + "; NOTIFY " + CHANNEL + ", %s", (key, meters, qs, payload))
                    conn.commit()
            else:
                for key, qs in todo:
                    cur.execute(INSERT, (key, meters, qs))
                    conn.commit()
            t = now() - t0
            conn.autocommit = True
            print("tx_%s_%d|%.3f" % (mode, run, t))
            sys.stdout.flush()
    # (the notifications of the small transactions, counted once all are in)
    time.sleep(1)
    total, _ = finish(lp, lctl)
    print("tx_notified|%d" % total)
    print("tx_expected_notified|%d" % (2 * runs * ntx))
    lp, lctl = start(ctx, listener, dsn, False)
    for run in range(1, runs + 1):
        for mode in (("on", "off") if run % 2 else ("off", "on")):
            empty(cur)
            cur.execute("SET car.notify = " + mode)
            t0 = now()
            cur.execute("INSERT INTO car.reading (meter_id, ts, quantity) "
                        "SELECT * FROM car.simulate(%s, %s, %s, '1 minute', 1)", (meters, bulk_from, bulk_to))
            t = now() - t0
            print("bulk_%s_%d|%.3f" % (mode, run, t))
            if run == 1 and mode == "on":
                print("bulk_rows|%d" % cur.rowcount)
            sys.stdout.flush()
    time.sleep(1)
    total, got = finish(lp, lctl)
    print("bulk_notified|%d" % total)
    print("bulk_expected_notified|%d" % runs)

    # the first 100-reading transaction of a new session (a client connecting
    # for each push), ms from INSERT sent to commit returned
    empty(cur)
    first = batches(meters, datetime.datetime(2024, 7, 1, tzinfo=datetime.timezone.utc), 2 * runs, 9)
    for run in range(1, runs + 1):
        for i, mode in enumerate(("on", "off") if run % 2 else ("off", "on")):
            key, qs = first[2 * (run - 1) + i]
            c2 = psycopg2.connect(dsn)
            cur2 = c2.cursor()
            cur2.execute("SET car.notify = " + mode)
            c2.commit()
            t0 = now()
            cur2.execute(INSERT, (key, meters, qs))
            c2.commit()
            print("first_%s_%d|%.2f" % (mode, run, 1000 * (now() - t0)))
            c2.close()
    cur.execute("SET car.notify = on")
    empty(cur)


if __name__ == "__main__":
    main()
