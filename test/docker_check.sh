#!/usr/bin/env bash
# Checks of docker/ without Docker (TAP).  docker/compose.yml is valid YAML
# with the car and metabase services wired as documented; docker/Dockerfile
# builds with the scripts `make demo` runs (scripts/deps.sh, scripts/install.sh)
# and duplicates none of their commands; the scripts parse (bash -n); and
# docker/init.sh, the image's entrypoint, run here against a private server
# (a free port, in the work directory), makes the database the container would
# hold: the demo data, a non-empty car.report_monthly, the roles, the pg_cron
# jobs, and a read-only login role that signs in over TCP with its password.
set -uo pipefail
source "$(dirname "$0")/../scripts/common.sh"
W=${1:?work directory}
PORT=${CAR_DOCKER_CHECK_PORT:-$(free_ports 1)}
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
is() { [ "$2" = "$3" ] && ok 0 "$1" || { ok 1 "$1"; echo "#   got: '${2//$'\n'/ }'"; echo "#   expected: '$3'"; }; }

rm -rf "$W"
mkdir -p "$W"
chmod 755 "$W"

# --- the files: compose.yml, Dockerfile, scripts ----------------------------
# python prints "0|1 <tab> description" lines, one per check
mkdir -p "$W/grafana"
checks=$(ROOT="$ROOT" W="$W" python3 - 2>&1 <<'PY'
import json, os, re, sys
root = os.environ["ROOT"]
def check(cond, what):
    print(("0" if cond else "1") + "\t" + what)

try:
    import yaml
except ImportError:
    check(False, "PyYAML is importable (Debian package python3-yaml)")
    sys.exit(0)

path = os.path.join(root, "docker/compose.yml")
try:
    with open(path) as f:
        c = yaml.safe_load(f)
    check(isinstance(c, dict), "docker/compose.yml parses as YAML")
except Exception as e:
    check(False, "docker/compose.yml parses as YAML: %s" % str(e).replace("\n", " "))
    c = {}
c = c if isinstance(c, dict) else {}
svc = c.get("services") or {}
check({"car", "metabase"} <= set(svc), "compose has the services car and metabase (found: %s)" % ", ".join(sorted(svc)))
car = svc.get("car") or {}
mb = svc.get("metabase") or {}
b = car.get("build") or {}
ctx = os.path.normpath(os.path.join(root, "docker", b.get("context", "."))) if isinstance(b, dict) else ""
df = os.path.join(ctx, b.get("dockerfile", "Dockerfile")) if isinstance(b, dict) else ""
check(ctx == root and os.path.realpath(df) == os.path.join(root, "docker/Dockerfile"),
      "car builds docker/Dockerfile with the repository as context")
hc = car.get("healthcheck") or {}
test = hc.get("test") or []
test = " ".join(test) if isinstance(test, list) else str(test)
check("pg_isready" in test and re.search(r"-h\s+(127\.0\.0\.1|localhost)\b", test) is not None,
      "car has a pg_isready healthcheck over TCP (%s)" % test)
env = car.get("environment") or {}
envk = set(env) if isinstance(env, dict) else {e.split("=")[0] for e in env}
check("CAR_BI_PASSWORD" in envk, "car takes the BI login's password from CAR_BI_PASSWORD")
check(any(str(v).endswith(":/var/lib/postgresql/car") for v in car.get("volumes") or []),
      "car keeps its server in a volume at /var/lib/postgresql/car")
check(any(re.search(r"(^|:)5432$", str(p)) for p in car.get("ports") or []), "car publishes port 5432")
check(str(mb.get("image", "")).split(":")[0] == "metabase/metabase", "metabase runs the metabase/metabase image")
dep = mb.get("depends_on") or {}
check(isinstance(dep, dict) and (dep.get("car") or {}).get("condition") == "service_healthy",
      "metabase depends on car being healthy")
check(any(re.search(r"(^|:)3000$", str(p)) for p in mb.get("ports") or []), "metabase publishes port 3000")

# Dockerfile: instructions with continuation lines joined, comments dropped
path = os.path.join(root, "docker/Dockerfile")
text = open(path).read() if os.path.exists(path) else ""
text = re.sub(r"\\\n", " ", "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#")))
ins = [(l.split(None, 1)[0].upper(), (l.split(None, 1) + [""])[1].strip()) for l in text.splitlines() if l.strip()]
frm = [a for k, a in ins if k == "FROM"]
check(frm == ["debian:bookworm"], "the Dockerfile is FROM debian:bookworm (found: %s)" % frm)
runs = [a for k, a in ins if k == "RUN"]
check(any(re.search(r"(^|[\s;&|/])scripts/install\.sh\b", r) for r in runs),
      "a RUN step runs scripts/install.sh, the install step of make demo")
# make demo's chain: demo.sh -> install.sh -> deps.sh
def calls(script, callee):
    src = open(os.path.join(root, script)).read()
    return any(callee in l and not l.lstrip().startswith("#") for l in src.splitlines())
check(calls("scripts/demo.sh", "install.sh") and calls("scripts/install.sh", "deps.sh")
      and calls("scripts/install.sh", "build_and_install"),
      "make demo installs through the same script: demo.sh runs install.sh (deps.sh + build_and_install)")
dup = re.compile(r"\bapt(-get)?\s+(\S+\s+)*?(install|build-dep)\b|\baptitude\b|\bdpkg\s+-i\b|\bmake\b|\bgcc\b|\bcc\s"
                 r"|\bpg_config\b|\bpip3?\s+install\b|\bcurl\b|\bwget\b|\binitdb\b|\bpg_ctl\b|\bpsql\b|\bcreate\s+extension\b",
                 re.I)
bad = [r for r in runs if dup.search(r)]
check(not bad, "no RUN step repeats an install or build command itself%s" % (": " + " | ".join(bad) if bad else ""))
# every RUN step is a chain (&&) of these: the scripts, folders, config lines, apt list cleanup
allowed = re.compile(r"(scripts/(deps|install)\.sh|mkdir|install -d|echo|rm -rf /var/lib/apt/lists/\*)(\s|$)")
unknown = [r for r in runs if not all(allowed.match(p.strip()) for p in r.split("&&"))]
check(not unknown, "RUN steps run only the scripts, make folders or write config lines%s"
      % (": " + " | ".join(unknown) if unknown else ""))
check(any(k == "COPY" and a.split() == [".", "."] for k, a in ins),
      "the Dockerfile copies the repository (the scripts run are the repository's)")
ep = [a for k, a in ins if k == "ENTRYPOINT"]
check(len(ep) == 1 and "docker/init.sh" in ep[0], "the entrypoint is docker/init.sh")
check(calls("scripts/demo.sh", "scripts/demo.sql") and calls("docker/init.sh", "scripts/demo.sql"),
      "make demo and the image's first start load the same scripts/demo.sql")
ign = os.path.join(root, "docker/Dockerfile.dockerignore")
ign = open(ign).read().split() if os.path.exists(ign) else []
check(".demo" in ign and "**/*.o" in ign, "the build context leaves out .demo/ and build products")

# --- Grafana: the compose service and the provisioning files -----------------
gf = svc.get("grafana") or {}
check(str(gf.get("image", "")).split(":")[0] == "grafana/grafana-oss", "grafana runs the grafana/grafana-oss image")
dep = gf.get("depends_on") or {}
check(isinstance(dep, dict) and (dep.get("car") or {}).get("condition") == "service_healthy",
      "grafana depends on car being healthy")
check(any(re.search(r"(^|:)3000$", str(p)) for p in gf.get("ports") or []), "grafana publishes its port 3000")
def host_ports(service):   # "${X:-3001}:3000" -> 3001
    ps = [re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(p)).split(":") for p in service.get("ports") or []]
    return {p[-2] for p in ps if len(p) >= 2}
gports, mports = host_ports(gf), host_ports(mb)
check(gports and not gports & mports, "grafana's host port is not metabase's (%s)" % ", ".join(sorted(gports)))
genv = gf.get("environment") or {}
genv = genv if isinstance(genv, dict) else dict((e.split("=", 1) + [""])[:2] for e in genv)
cenv = env if isinstance(env, dict) else dict((e.split("=", 1) + [""])[:2] for e in env)
check(genv.get("CAR_BI_USER") == cenv.get("CAR_BI_USER") and genv.get("CAR_BI_PASSWORD") == cenv.get("CAR_BI_PASSWORD")
      and "CAR_BI_PASSWORD" in str(genv.get("CAR_BI_PASSWORD")),
      "grafana gets the BI login and its password as car does (CAR_BI_USER=%s, CAR_BI_PASSWORD from the environment)"
      % genv.get("CAR_BI_USER"))
# volumes: host path (relative to docker/) -> (container path, read-only)
mounts = {}
for v in gf.get("volumes") or []:
    parts = str(v).split(":")
    if len(parts) >= 2 and parts[0].startswith("."):
        mounts[os.path.normpath(os.path.join(root, "docker", parts[0]))] = (parts[1], parts[2:] == ["ro"])
gdir = os.path.join(root, "docker/grafana")
prov = {c: h for h, (c, ro) in mounts.items() if h.startswith(os.path.join(gdir, "provisioning")) and ro}
check(any(c.startswith("/etc/grafana/provisioning") for c in prov),
      "grafana mounts docker/grafana/provisioning read-only at /etc/grafana/provisioning")
check(all(ro for h, (c, ro) in mounts.items()) and all(os.path.isdir(h) for h in mounts),
      "every folder grafana mounts from docker/ exists and is mounted read-only (%s)"
      % ", ".join("%s:%s" % (os.path.relpath(h, root), c) for h, (c, ro) in sorted(mounts.items())))
def in_container(path):   # the host folder that a container path comes from
    for h, (c, ro) in mounts.items():
        if path == c or path.startswith(c.rstrip("/") + "/"):
            return os.path.normpath(h + path[len(c):])
    return None

# every JSON and YAML file under docker/grafana parses
docs, bad = {}, []
for d, _, files in os.walk(gdir):
    for f in sorted(files):
        path = os.path.join(d, f)
        rel = os.path.relpath(path, root)
        try:
            if f.endswith(".json"):
                docs[rel] = json.load(open(path))
            elif f.endswith((".yaml", ".yml")):
                docs[rel] = yaml.safe_load(open(path))
            else:
                bad.append(rel + " (neither JSON nor YAML)")
        except Exception as e:
            bad.append("%s: %s" % (rel, str(e).replace("\n", " ")))
check(docs and not bad, "the %d files under docker/grafana are valid JSON or YAML%s"
      % (len(docs), ": " + "; ".join(bad) if bad else " (" + ", ".join(sorted(docs)) + ")"))

dss = [x for k, v in docs.items() if k.startswith("docker/grafana/provisioning/datasources/")
       for x in ((v or {}).get("datasources") or [])]
ds = dss[0] if len(dss) == 1 else {}
jd = ds.get("jsonData") or {}
check(len(dss) == 1 and ds.get("type") == "grafana-postgresql-datasource" and ds.get("url") == "car:5432"
      and jd.get("database") == "car",
      "one data source, grafana-postgresql-datasource, car:5432, database car (%s)"
      % ", ".join("%s %s %s" % (x.get("type"), x.get("url"), (x.get("jsonData") or {}).get("database")) for x in dss))
check(jd.get("sslmode") == "disable" and jd.get("postgresVersion") == 1500 and jd.get("timescaledb") is False,
      "the data source: sslmode disable, postgresVersion 1500, timescaledb false")
check(re.fullmatch(r"\$\{?CAR_BI_USER\}?", str(ds.get("user"))) is not None
      and re.fullmatch(r"\$\{?CAR_BI_PASSWORD\}?", str((ds.get("secureJsonData") or {}).get("password"))) is not None
      and "password" not in ds,
      "the data source logs in as $CAR_BI_USER with $CAR_BI_PASSWORD (secureJsonData)")

provs = [x for k, v in docs.items() if k.startswith("docker/grafana/provisioning/dashboards/")
         for x in ((v or {}).get("providers") or [])]
paths = [in_container(str((x.get("options") or {}).get("path", ""))) for x in provs]
check(provs and all(x.get("type") == "file" for x in provs) and all(p and os.path.isdir(p) for p in paths),
      "the dashboard providers read folders mounted from docker/grafana (%s)"
      % ", ".join(str((x.get("options") or {}).get("path")) for x in provs))
dashes = [(os.path.relpath(os.path.join(p, f), root), json.load(open(os.path.join(p, f))))
          for p in paths if p and os.path.isdir(p) for f in sorted(os.listdir(p)) if f.endswith(".json")]
live = [(k, v) for k, v in dashes if any("car.live" in (t.get("rawSql") or "")
                                         for pn in v.get("panels") or [] for t in pn.get("targets") or [])]
check(len(live) >= 1, "a provisioned dashboard queries car.live (%s)" % ", ".join(k for k, v in live))
ds_uids = {x.get("uid") for x in dss}
W = os.environ["W"]
index = open(os.path.join(W, "grafana/panels"), "w")
for rel, dash in dashes:
    check(dash.get("refresh") == "5s", "%s refreshes every 5 seconds (refresh: %s)" % (rel, dash.get("refresh")))
    panels = dash.get("panels") or []
    ids = [pn.get("id") for pn in panels]
    check(panels and len(set(ids)) == len(ids), "%s has panels with distinct ids (%d)" % (rel, len(panels)))
    for pn in panels:
        what = "%s panel %s \"%s\"" % (os.path.basename(rel), pn.get("id"), pn.get("title"))
        ts = pn.get("targets") or []
        uses = [(t.get("datasource") or pn.get("datasource") or {}).get("uid") for t in ts]
        sqls = [t.get("rawSql") or "" for t in ts]
        fmts = [t.get("format") for t in ts]
        wrong = []
        if not ts or not all(t.get("rawQuery") and t.get("editorMode") == "code" for t in ts):
            wrong.append("not raw SQL")
        if not set(uses) <= ds_uids:
            wrong.append("data source %s is not the provisioned one" % uses)
        if not set(fmts) <= {"table", "time_series"}:
            wrong.append("format %s" % fmts)
        if not all(re.search(r"\bcar\.(live|live_json|reading)\b", q) for q in sqls):
            wrong.append("a query reads none of car.live, car.live_json, car.reading")
        if not all(f != "time_series" or re.search(r"\bAS\s+time\b", q, re.I) for q, f in zip(sqls, fmts)):
            wrong.append("a time series has no column time")
        check(not wrong, "%s: raw SQL (format %s) on the provisioned data source, reading car.live/car.reading%s"
              % (what, "/".join(map(str, fmts)), ": " + "; ".join(wrong) if wrong else ""))
        for i, (q, f) in enumerate(zip(sqls, fmts)):
            # Grafana's variables and macros, for the dashboard's range: the last hour
            q = q.replace("${__interval_ms}", "60000").replace("$__interval_ms", "60000")
            q = re.sub(r"\$\{?__interval\}?", "'1m'", q)
            for name, repl in (("timeFilter", "(%s BETWEEN now() - interval '1 hour' AND now())"),
                               ("timeFrom", "(now() - interval '1 hour')"), ("timeTo", "now()")):
                while "$__%s(" % name in q:
                    a = q.index("$__%s(" % name)
                    b = a + len(name) + 4
                    depth, c = 1, b
                    while depth and c < len(q):
                        depth += {"(": 1, ")": -1}.get(q[c], 0)
                        c += 1
                    q = q[:a] + (repl % q[b:c - 1] if "%s" in repl else repl) + q[c:]
            check("$" not in q, "%s: every Grafana macro in its query can be replaced for the check%s"
                  % (what, "" if "$" not in q else ": " + q[q.index("$"):][:30]))
            sqlfile = os.path.join(W, "grafana/%s-%s-%d.sql" % (os.path.basename(rel)[:-5], pn.get("id"), i))
            open(sqlfile, "w").write(q.rstrip().rstrip(";") + "\n")
            index.write("%s\t%s\t%s\n" % (sqlfile, f, what))
index.close()
PY
)
prc=$?
while IFS=$'\t' read -r status what; do
	[ -n "$what" ] || { echo "# $status"; continue; }
	ok "$status" "$what"
done <<<"$checks"
[ $prc = 0 ] || ok 1 "the file checks ran to the end"

for s in scripts/install.sh scripts/deps.sh scripts/demo.sh scripts/demo-live.sh docker/init.sh; do
	bash -n "$ROOT/$s" 2>"$W/bash-n.err"
	ok $? "bash -n $s"
	sed 's/^/# /' "$W/bash-n.err"
done

# --- the database the container makes --------------------------------------
"$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && echo "# port $PORT is in use: set CAR_DOCKER_CHECK_PORT"
H=$W/car # CAR_HOME: the image's /var/lib/postgresql/car
PW="pw-$RANDOM$RANDOM"
# the sample files where the server can read them (the clone may be closed to it)
mkdir -p "$W/sample" && cp "$ROOT"/data/sample/*.csv "$W/sample/" && chmod -R a+rX "$W/sample"
export CAR_SAMPLE_DIR=$W/sample
trap 'as_postgres "$PGBIN/pg_ctl" -D "$H/data" -m immediate stop >/dev/null 2>&1' EXIT
CAR_HOME=$H CAR_PORT=$PORT CAR_BI_PASSWORD=$PW "$ROOT/docker/init.sh" >"$W/init.out" 2>&1
rc=$?
ok $rc "docker/init.sh makes the server and the database (log: $W/init.out)"
[ $rc = 0 ] || tail -20 "$W/init.out" | sed 's/^/# /'

conf() { as_postgres "$PGBIN/postgres" -D "$H/data" -C "$1" 2>/dev/null; }
is "it listens on all addresses" "$(conf listen_addresses)" "*"
is "pg_cron and car are preloaded" "$(conf shared_preload_libraries)" "pg_cron,car"
is "pg_cron works in database car, with background workers" "$(conf cron.database_name) $(conf cron.use_background_workers)" "car on"
hba=$(grep -vE '^\s*(#|$)' "$H/data/pg_hba.conf" 2>/dev/null | awk '$1 ~ /^host/ { print $NF }' | sort -u | tr '\n' ' ')
is "network logins need a SCRAM password (pg_hba.conf)" "$hba" "scram-sha-256 "

# started as the image would, but on 127.0.0.1 only
as_postgres "$PGBIN/pg_ctl" -D "$H/data" -o "-c listen_addresses=127.0.0.1" -l "$H/server.log" -w start >/dev/null 2>&1
ok $? "the server starts"
"$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -d car
ok $? "the healthcheck's pg_isready over TCP answers"
sql() { as_postgres "$PGBIN/psql" -X -qAt -h "$H" -p "$PORT" -d car -c "$1" 2>&1; }
is "the official factors 2021-2024 are loaded" \
	"$(sql "SELECT string_agg(year::text, ',' ORDER BY year) FROM car.factor_set")" "2021,2022,2023,2024"
is "the sample meter files are loaded (2 files, 17,520 readings)" \
	"$(sql "SELECT count(DISTINCT file_id) || ' ' || count(*) FROM car.reading")" "2 17520"
is "car.report_monthly has the sample site's 12 months of electricity and gas" \
	"$(sql "SELECT count(*) || ' ' || bool_and(days_with_data > 0) || ' ' || (sum(kg_co2e) > 0) FROM car.report_monthly WHERE site = 'UCam b0'")" "24 true true"
is "the roles car_reader, car_auditor, car_ingest, car_worker and car_admin exist" \
	"$(sql "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'car\_%'")" "car_admin,car_auditor,car_ingest,car_reader,car_worker"
is "pg_cron runs car-refresh and car-maintenance in car" \
	"$(sql "SELECT string_agg(jobname || '@' || database, ',' ORDER BY jobname) FROM cron.job")" "car-maintenance@car,car-refresh@car"
is "the login role metabase is a member of car_reader, not a superuser" \
	"$(sql "SELECT rolcanlogin::text || rolsuper::text || pg_has_role('metabase', 'car_reader', 'MEMBER')::text FROM pg_roles WHERE rolname = 'metabase'")" "truefalsetrue"

bi() { PGPASSWORD=$1 PGCONNECT_TIMEOUT=5 "$PGBIN/psql" -X -w -qAt -h 127.0.0.1 -p "$PORT" -U metabase -d car -c "$2" 2>&1; }
got=$(bi "$PW" "SELECT count(*) FROM report_monthly")
is "metabase signs in over TCP with its password and reads report_monthly" "$got" "24"
got=$(bi "wrong-$PW" "SELECT 1")
case $got in *"password authentication failed"*) ok 0 "a wrong password is refused" ;; *) ok 1 "a wrong password is refused"; echo "# got: ${got//$'\n'/ }" ;; esac
got=$(bi "$PW" "SELECT count(*) FROM car.report_yearly; SELECT count(*) FROM car.report_scope; SELECT count(*) FROM car.report_intensity" | tr '\n' ' ')
case $got in *ERROR*|"") ok 1 "metabase reads report_yearly, report_scope, report_intensity"; echo "# got: ${got//$'\n'/ }" ;; *) ok 0 "metabase reads report_yearly, report_scope, report_intensity (${got% })" ;; esac
got=$(bi "$PW" "CREATE TABLE public.x (i int)")
case $got in *"read-only transaction"*) ok 0 "metabase's sessions are read-only" ;; *) ok 1 "metabase's sessions are read-only"; echo "# got: ${got//$'\n'/ }" ;; esac
got=$(bi "$PW" "SELECT count(*) FROM car.source_file")
case $got in *"permission denied"*) ok 0 "metabase cannot read the landed files (car.source_file)" ;; *) ok 1 "metabase cannot read the landed files (car.source_file)"; echo "# got: ${got//$'\n'/ }" ;; esac
# (15 columns in 1.0, and coverage and pct_estimated since 1.1)
got=$(sql "SELECT count(*) FILTER (WHERE col_description('car.report_monthly'::regclass, attnum) IS NULL) || ' of ' || count(*) FROM pg_attribute WHERE attrelid = 'car.report_monthly'::regclass AND attnum > 0")
is "every column of report_monthly has a comment (BI tools show them as descriptions)" "$got" "0 of 17"

# a second start finds the database made and runs its command
as_postgres "$PGBIN/pg_ctl" -D "$H/data" -m fast -w stop >/dev/null 2>&1
got=$(CAR_HOME=$H CAR_PORT=$PORT CAR_BI_PASSWORD=$PW "$ROOT/docker/init.sh" echo started 2>&1)
is "a second start does not initialise again, and runs the CMD" "$got" "started"
# a first start cut short (no "initialised" mark) runs every step again
rm -f "$H/initialised"
CAR_HOME=$H CAR_PORT=$PORT CAR_BI_PASSWORD=$PW "$ROOT/docker/init.sh" >"$W/init2.out" 2>&1
rc=$?
ok $rc "an interrupted first start is finished by the next (log: $W/init2.out)"
[ $rc = 0 ] || tail -20 "$W/init2.out" | sed 's/^/# /'
as_postgres "$PGBIN/pg_ctl" -D "$H/data" -o "-c listen_addresses=''" -l "$H/server.log" -w start >/dev/null 2>&1
is "and loads nothing twice" \
	"$(sql "SELECT (SELECT count(*) FROM car.reading) || ' ' || (SELECT count(*) FROM car.report_monthly) || ' ' || (SELECT count(*) FROM cron.job) || ' ' || (SELECT count(*) FROM car.factor_set)")" "17520 24 2 4"

# --- Grafana's dashboard, on live readings, as the BI login ------------------
# readings as a live feed adds them: three simulated sites (an electricity, a
# gas and a water meter each), a reading per meter every 10 s for the last hour
as_postgres "$PGBIN/pg_ctl" -D "$H/data" -o "-c listen_addresses=127.0.0.1" -l "$H/server.log" -w restart >/dev/null 2>&1
ok $? "the server starts again on 127.0.0.1, for the BI login"
sim_meters=$(sql "SELECT array_agg(id ORDER BY id) FROM car.simulate_setup(3, 3)")
got=$(sql "INSERT INTO car.reading SELECT * FROM car.simulate('$sim_meters', now() - interval '1 hour', now(), '10 seconds', 7);
           SELECT count(*) > 3000 FROM car.reading r JOIN car.meter m ON m.id = r.meter_id JOIN car.site s ON s.id = m.site_id
           WHERE s.name LIKE 'Sim site %' AND r.ts > now() - interval '1 hour'")
is "car.simulate_setup(3, 3) and car.simulate add an hour of live readings" "$got" "t"
got=$(bi "$PW" "SELECT count(*) FILTER (WHERE kw_now > 0 AND kg_co2e_per_hour_now > 0 AND kwh_today > 0 AND kg_co2e_today > 0)
                FROM car.live WHERE site LIKE 'Sim site %'")
is "metabase (Grafana's login) reads car.live: the 3 simulated sites have power and emissions now" "$got" "3"
# every panel's query, its Grafana macros replaced for the last hour (by the
# file checks above), run as Grafana would run it: rows, every number > 0, and
# a series per simulated site
npanels=0
while IFS=$'\t' read -r file fmt what; do
	[ -n "$file" ] || continue
	npanels=$((npanels + 1))
	got=$(bi "$PW" "SELECT count(*) || ' rows, ' || count(DISTINCT to_jsonb(q) ->> 'metric') || ' series, numbers > 0: '
	                       || coalesce(bool_and(NOT EXISTS (SELECT FROM jsonb_each(to_jsonb(q)) e
	                                                        WHERE CASE WHEN jsonb_typeof(e.value) = 'number' THEN (e.value)::numeric <= 0 END)), false)
	                FROM (
$(cat "$file")
	                ) q")
	case $fmt:$got in
	time_series:0\ rows*|time_series:*\ [012]\ series*|table:0\ rows*|*ERROR*|*"> 0: false"|*:) ok 1 "$what runs as metabase and returns data"; echo "#   got: ${got//$'\n'/ }"; echo "#   query: $file" ;;
	*) ok 0 "$what runs as metabase and returns data ($got)" ;;
	esac
done <"$W/grafana/panels"
[ "$npanels" -ge 3 ] && ok 0 "the dashboards' $npanels panel queries were run" || ok 1 "the dashboards' panel queries were run (only $npanels)"

# the README's live demo in the container: scripts/demo-live.sh as the OS user
# postgres on the server's own socket (docker compose exec car ...)
# (a copy of the scripts: the postgres user may not reach the clone)
cp -r "$ROOT/scripts" "$W/scripts" && cp "$ROOT/car.control" "$W/" && chmod -R a+rX "$W/scripts"
out=$(as_postgres env CAR_DEMO_DIR="$H" CAR_DEMO_PORT="$PORT" CAR_DEMO_DB=car CAR_DEMO_LIVE_SECONDS=1 PG_CONFIG="$PG_CONFIG" \
	"$W/scripts/demo-live.sh" 2>&1)
rc=$?
case $rc:$out in
0:*"Sim site 3 |"*"car demo-live: ran its 1s"*) ok 0 "scripts/demo-live.sh runs against the container's database as postgres" ;;
*) ok 1 "scripts/demo-live.sh runs against the container's database as postgres"; tail -5 <<<"$out" | sed 's/^/# /' ;;
esac
echo "1..$n"
