#!/usr/bin/env bash
# Checks of docker/ without Docker (TAP).  docker/compose.yml is valid YAML
# with the car and metabase services wired as documented; docker/Dockerfile
# builds with the scripts `make demo` runs (scripts/deps.sh, scripts/install.sh)
# and duplicates none of their commands; the scripts parse (bash -n); and
# docker/init.sh, the image's entrypoint, run here against a private server
# (port 54352, in the work directory), makes the database the container would
# hold: the demo data, a non-empty car.report_monthly, the roles, the pg_cron
# jobs, and a read-only login role that signs in over TCP with its password.
set -uo pipefail
source "$(dirname "$0")/../scripts/common.sh"
W=${1:?work directory}
PORT=${CAR_DOCKER_CHECK_PORT:-54352}
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
is() { [ "$2" = "$3" ] && ok 0 "$1" || { ok 1 "$1"; echo "#   got: '${2//$'\n'/ }'"; echo "#   expected: '$3'"; }; }

rm -rf "$W"
mkdir -p "$W"
chmod 755 "$W"

# --- the files: compose.yml, Dockerfile, scripts ----------------------------
# python prints "0|1 <tab> description" lines, one per check
checks=$(ROOT="$ROOT" python3 - 2>&1 <<'PY'
import os, re, sys
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
PY
)
prc=$?
while IFS=$'\t' read -r status what; do
	[ -n "$what" ] || { echo "# $status"; continue; }
	ok "$status" "$what"
done <<<"$checks"
[ $prc = 0 ] || ok 1 "the file checks ran to the end"

for s in scripts/install.sh scripts/deps.sh scripts/demo.sh docker/init.sh; do
	bash -n "$ROOT/$s" 2>"$W/bash-n.err"
	ok $? "bash -n $s"
	sed 's/^/# /' "$W/bash-n.err"
done

# --- the database the container makes --------------------------------------
"$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && echo "# port $PORT is in use: set CAR_DOCKER_CHECK_PORT"
H=$W/car # CAR_HOME: the image's /var/lib/postgresql/car
PW="pw-$RANDOM$RANDOM"
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
is "the roles car_reader, car_auditor, car_ingest and car_admin exist" \
	"$(sql "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'car\_%'")" "car_admin,car_auditor,car_ingest,car_reader"
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
got=$(sql "SELECT count(*) FILTER (WHERE col_description('car.report_monthly'::regclass, attnum) IS NULL) || ' of ' || count(*) FROM pg_attribute WHERE attrelid = 'car.report_monthly'::regclass AND attnum > 0")
is "every column of report_monthly has a comment (BI tools show them as descriptions)" "$got" "0 of 15"

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
echo "1..$n"
