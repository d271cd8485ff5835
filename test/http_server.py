#!/usr/bin/env python3
"""A small eCMS-like web server for car's background-worker tests (stdlib only).

  GET /eCMS/Viewfiles.asp?folder=MOJ           HTML listing: a link per published month
  GET /eCMS/Files/MOJ/ministryofjustice_<mon>-<yyyy>.csv
                                               that month's file in the ecodriver layout,
                                               made by test/gen/ecodriver.py (deterministic),
                                               with an ETag and Last-Modified, honouring
                                               If-None-Match / If-Modified-Since
  GET /eCMS/Mixed.asp                          HTML listing with links on three hosts: July 2024 on this
                                               one, August on 127.0.0.2 (an "internal" address: nothing
                                               listens there), September on localhost
  GET /old/listing                             302 to /eCMS/Mixed.asp (its relative links then lead to
                                               /eCMS/Files/..., not /old/Files/...)
  GET /eCMS/moved/<file>                       302 to /eCMS/Files/MOJ/<file> (the same host)
  GET /eCMS/away/<file>                        302 to http://127.0.0.2:<port>/eCMS/Files/MOJ/<file>
  GET /eCMS/elsewhere/<file>                   302 to http://localhost:<port>/eCMS/Files/MOJ/<file>
  GET /_control?publish=2024-01                list a month on the index page
  GET /_control?fault=NAME                     500, 404, stall, truncate, oversize,
                                               redirect_loop, etag_ignore, or none
  GET /_control?latency_ms=N                   delay every file (and /ci) response
  GET /_control?sites=N                        files with N sites (default 2), for benchmarks
  GET /_control?reset=1                        nothing published, no fault, no latency
  GET /_stats                                  JSON: file requests served, by month
  GET /_auth                                   JSON: by month, whether the last file request carried
                                               an Authorization header

The GB Carbon Intensity API, under /ci (a source's base URL is http://127.0.0.1:<port>/ci), its
responses made by test/gen/intensity.py in the API's recorded shapes:
  GET /ci/intensity/{from}/{to}                the national half-hours (at most 14 days; 400 otherwise)
  GET /ci/regional/intensity/{from}/{to}/regionid/{id}   a region's
  GET /_control?ci_reset=1                     the generator's defaults, no fault, the request log emptied
  GET /_control?ci_<name>=V                    the generator's state (actual_lag_hours, forecast_only,
                                               forecast_shift, horizon_hours, gap_modulus: see there)
  GET /_control?ci_fault=NAME                  500, malformed (the JSON without its last "]}"), wrong_value (a
                                               forecast of "high"), duplicate (a half-hour twice with
                                               different values), or none
  GET /_control?down_seconds=N                 the whole server stops listening for N seconds (a
                                               connection is refused), then listens again on its port
  GET /_ci_requests                            JSON: the /ci requests answered with 200, in order
Every response to a /ci request that succeeds is appended to --dir/ci-served.jsonl as
{"path": ..., "body": ...}, for the tests to compare what car stored with what was served.

Each month's expected totals are written beside its file in --dir as
ministryofjustice_<mon>-<yyyy>.totals.csv, for the tests to compare with.
"""
import argparse
import hashlib
import re
import json
import os
import subprocess
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

MONS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "gen"))
import intensity  # noqa: E402  (test/gen/intensity.py)

CI_TIME = r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z)"
CI_NATIONAL = re.compile(r"^/ci/intensity/%s/%s$" % (CI_TIME, CI_TIME))
CI_REGIONAL = re.compile(r"^/ci/regional/intensity/%s/%s/regionid/(\d{1,2})$" % (CI_TIME, CI_TIME))
STATE = {"published": [], "fault": "none", "latency_ms": 0, "served": {}, "sites": 2, "auth": {},
         "ci": {}, "ci_fault": "none", "ci_requests": [], "down": 0}
LOCK = threading.Lock()
STARTED = formatdate(time.time() - 3600, usegmt=True)


def month_file(args, mon, yyyy):
    """Make (once) and return the bytes of a month's file."""
    m = MONS.index(mon) + 1
    y = int(yyyy)
    sites = STATE["sites"]
    base = os.path.join(args.dir, "ministryofjustice_%s-%04d%s" % (mon, y, "" if sites == 2 else "_s%d" % sites))
    with LOCK:
        if not os.path.exists(base + ".csv"):
            days = (31, 29 if y % 4 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[m - 1]
            subprocess.run([sys.executable, os.path.join(HERE, "gen", "ecodriver.py"), "--out", base,
                            "--sites", str(sites), "--meters", "2", "--start", "%04d-%02d-01" % (y, m),
                            "--days", str(days), "--seed", str(y * 12 + m), "--junk", "0",
                            "--extra-days", ""], check=True)
            os.chmod(base + ".csv", 0o644)
            os.chmod(base + ".totals.csv", 0o644)
    with open(base + ".csv", "rb") as f:
        return f.read()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def send(self, code, body=b"", ctype="text/plain", headers=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        if u.path == "/_control":
            with LOCK:
                if "reset" in q:
                    STATE.update(published=[], fault="none", latency_ms=0)
                if "publish" in q:
                    y, m = q["publish"].split("-")
                    name = "ministryofjustice_%s-%s.csv" % (MONS[int(m) - 1], y)
                    if name not in STATE["published"]:
                        STATE["published"].append(name)
                if "fault" in q:
                    STATE["fault"] = q["fault"]
                if "latency_ms" in q:
                    STATE["latency_ms"] = int(q["latency_ms"])
                if "sites" in q:
                    STATE["sites"] = int(q["sites"])
                if "ci_reset" in q:
                    STATE.update(ci={}, ci_fault="none", ci_requests=[])
                    open(os.path.join(self.server.args.dir, "ci-served.jsonl"), "w").close()
                for k, v in q.items():
                    if k.startswith("ci_") and k not in ("ci_reset", "ci_fault"):
                        STATE["ci"][k[3:]] = float(v)
                if "ci_fault" in q:
                    STATE["ci_fault"] = q["ci_fault"]
                if "down_seconds" in q:
                    STATE["down"] = float(q["down_seconds"])
                    threading.Thread(target=self.server.shutdown, daemon=True).start()
            return self.send(200, b"ok\n")
        if u.path == "/_ci_requests":
            return self.send(200, json.dumps(STATE["ci_requests"]).encode(), "application/json")
        if u.path.startswith("/ci/"):
            return self.carbon_intensity(u.path)
        if u.path == "/_stats":
            return self.send(200, json.dumps(STATE["served"]).encode(), "application/json")
        if u.path == "/_auth":
            return self.send(200, json.dumps(STATE["auth"], sort_keys=True).encode(), "application/json")
        port = self.server.server_address[1]
        if u.path == "/eCMS/Mixed.asp":
            links = ['Files/MOJ/ministryofjustice_jul-2024.csv',
                     'http://127.0.0.2:%d/eCMS/Files/MOJ/ministryofjustice_aug-2024.csv' % port,
                     'http://localhost:%d/eCMS/Files/MOJ/ministryofjustice_sep-2024.csv' % port]
            page = ("<html><body><ul>\n%s</ul></body></html>"
                    % "".join('<li><a href="%s">%s</a></li>\n' % (l, l.rsplit("/", 1)[1]) for l in links))
            return self.send(200, page.encode(), "text/html")
        if u.path == "/old/listing":
            return self.send(302, b"", headers={"Location": "/eCMS/Mixed.asp"})
        for prefix, target in (("/eCMS/moved/", "/eCMS/Files/MOJ/"),
                               ("/eCMS/away/", "http://127.0.0.2:%d/eCMS/Files/MOJ/" % port),
                               ("/eCMS/elsewhere/", "http://localhost:%d/eCMS/Files/MOJ/" % port)):
            if u.path.startswith(prefix):
                return self.send(302, b"", headers={"Location": target + u.path[len(prefix):]})
        if u.path == "/eCMS/Viewfiles.asp":
            links = "".join('<li><a href="Files/MOJ/%s">%s</a></li>\n' % (n, n) for n in STATE["published"])
            page = ("<html><head><title>eCMS files</title></head><body><h1>MOJ</h1><ul>\n%s"
                    '<li><a href="/eCMS/help.html">help</a></li></ul></body></html>' % links)
            return self.send(200, page.encode(), "text/html")
        if u.path == "/eCMS/loop":
            return self.send(302, b"", headers={"Location": "/eCMS/loop"})
        if u.path.startswith("/eCMS/Files/MOJ/ministryofjustice_") and u.path.endswith(".csv"):
            stem = u.path.rsplit("/", 1)[1][len("ministryofjustice_"):-4]
            mon, yyyy = stem.split("-")
            if mon not in MONS or not yyyy.isdigit():
                return self.send(404, b"no such file\n")
            fault = STATE["fault"]
            if STATE["latency_ms"]:
                time.sleep(STATE["latency_ms"] / 1000.0)
            if fault == "500":
                return self.send(500, b"server error\n")
            if fault == "404":
                return self.send(404, b"not found\n")
            if fault == "redirect_loop":
                return self.send(302, b"", headers={"Location": "/eCMS/loop"})
            if fault == "stall":
                time.sleep(30)
            body = month_file(self.server.args, mon, yyyy)
            if fault == "oversize":
                body = body * 200
            etag = '"%s"' % hashlib.sha256(body).hexdigest()[:32]
            if fault != "etag_ignore" and self.headers.get("If-None-Match") == etag:
                return self.send(304, b"", headers={"ETag": etag})
            with LOCK:
                STATE["served"][stem] = STATE["served"].get(stem, 0) + 1
                STATE["auth"][stem] = self.headers.get("Authorization") is not None
            if fault == "truncate":
                self.send_response(200)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            headers = {"Last-Modified": STARTED}
            if fault != "etag_ignore":
                headers["ETag"] = etag
            return self.send(200, body, "text/csv", headers)
        return self.send(404, b"no such page\n")


    def carbon_intensity(self, path):
        """The GB Carbon Intensity API's national and regional windows."""
        m = CI_NATIONAL.match(path) or CI_REGIONAL.match(path)
        if not m:
            return self.send(404, b'{"error": {"code": "404 Not Found", "message": "no such endpoint"}}',
                             "application/json")
        t_from, t_to = intensity.parse(m.group(1)), intensity.parse(m.group(2))
        if t_to <= t_from or t_to - t_from > 14 * 86400:
            return self.send(400, b'{"error": {"code": "400 Bad Request", "message": "Please enter a valid '
                                  b'datetime range, the maximum range is 14 days"}}', "application/json")
        with LOCK:
            state = dict(STATE["ci"])
            fault = STATE["ci_fault"]
        if STATE["latency_ms"]:
            time.sleep(STATE["latency_ms"] / 1000.0)
        if fault == "500":
            return self.send(500, b'{"error": {"code": "500 Internal Server Error", "message": "fault"}}',
                             "application/json")
        if len(m.groups()) == 3:
            body = intensity.regional(t_from, t_to, int(m.group(3)), state)
            periods = body["data"]["data"]
        else:
            body = intensity.national(t_from, t_to, state)
            periods = body["data"]
        if fault == "wrong_value" and periods:
            periods[len(periods) // 2]["intensity"]["forecast"] = "high"
        if fault == "duplicate" and len(periods) > 2:
            twin = json.loads(json.dumps(periods[1]))
            twin["intensity"]["forecast"] += 1
            periods.insert(2, twin)
        data = json.dumps(body).encode()
        if fault == "malformed":
            data = data[:-2]  # the closing "]}": the JSON ends unexpectedly
        with LOCK:
            STATE["ci_requests"].append(path)
            if fault == "none":
                with open(os.path.join(self.server.args.dir, "ci-served.jsonl"), "a") as f:
                    f.write(json.dumps({"path": path, "body": body}) + "\n")
        return self.send(200, data, "application/json")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # clients that hang up (timeouts, killed workers) are part of the tests
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0, help="0: any free port")
    ap.add_argument("--port-file", help="write the port listened on here, once listening")
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.args = args
    port = srv.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.rename(args.port_file + ".tmp", args.port_file)
    while True:
        srv.serve_forever()
        # asked to go down (/_control?down_seconds=N): nothing listens, then the same port again
        srv.server_close()
        time.sleep(STATE["down"])
        STATE["down"] = 0
        srv = Server(("127.0.0.1", port), Handler)
        srv.args = args


if __name__ == "__main__":
    main()
