#!/usr/bin/env bash
# Security tests of car's tokens and row-level security (TAP).  Keys and
# tokens are made with the openssl command line (test/jwt/mktoken.py), never
# with car.  Every rejection must be SQLSTATE 28000 with its reason.
set -uo pipefail
source "$(dirname "$0")/../scripts/common.sh"
W=${1:?work directory}
PORT=${CAR_JWT_PORT:-$(free_ports 1)}
M="python3 $ROOT/test/jwt/mktoken.py"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
# psql as superuser (or -c "SET ROLE ..." first); errors shown with their SQLSTATE
q() { as_postgres "$PGBIN/psql" -X -qAt -h "$W" -p "$PORT" -d car -c "$1" 2>&1; }
qv() { as_postgres "$PGBIN/psql" -X -qAt -v VERBOSITY=verbose -h "$W" -p "$PORT" -d car -c "$1" 2>&1 | grep -v '^LOCATION:'; }
# a query that must fail with 28000 and the reason
refused() { # token reason description
	local out
	out=$(qv "SELECT car.verify_jwt('$1')")
	if echo "$out" | grep -q "ERROR:  28000: invalid token: .*$2"; then ok 0 "$3"; else
		ok 1 "$3"
		echo "$out" | head -3 | cut -c1-300 | sed 's/^/# /'
	fi
}
accepted() { # token description
	local out
	out=$(q "SELECT car.verify_jwt('$1')->>'sub'")
	if [ "$out" = "tester" ]; then ok 0 "$2"; else
		ok 1 "$2"
		echo "$out" | head -3 | cut -c1-300 | sed 's/^/# /'
	fi
}

rm -rf "$W"
mkdir -p "$W/keys"
init_private_server "$W" "$PORT" <<CONF
shared_preload_libraries = 'car'
car.database = 'car'
timezone = 'UTC'
CONF
start_private_server "$W"
trap 'as_postgres "$PGBIN/pg_ctl" -D "$W/data" -m fast stop >/dev/null 2>&1' EXIT
as_postgres "$PGBIN/createdb" -h "$W" -p "$PORT" car

# keys, made by openssl
K=$W/keys
openssl genrsa -out "$K/rsa.pem" 2048 2>/dev/null && openssl rsa -in "$K/rsa.pem" -pubout -out "$K/rsa.pub" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$K/ec.pem" && openssl ec -in "$K/ec.pem" -pubout -out "$K/ec.pub" 2>/dev/null
openssl rand -hex 32 | tr -d '\n' >"$K/hs.key"
openssl rand -hex 32 | tr -d '\n' >"$K/other.key"
printf 'metabase-embedding-secret-0123456789abcdef' >"$K/metabase.key"
chmod -R a+rX "$W/keys"

python3 "$ROOT/test/gen/ecodriver.py" --out "$W/a" --sites 2 --meters 2 --start 2022-03-01 --days 5 --seed 11 --junk 0 --extra-days "" >/dev/null
python3 "$ROOT/test/gen/ecodriver.py" --out "$W/b" --sites 3 --meters 1 --start 2022-03-01 --days 5 --seed 12 --junk 0 --extra-days "" >/dev/null
chmod a+r "$W"/*.csv
out=$(as_postgres "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$W" -p "$PORT" -d car 2>&1 <<SQL
SET client_min_messages = warning;
CREATE EXTENSION car;
SELECT car.load_factors(2022);
INSERT INTO car.jwt_key (kid, alg, key, private_key) VALUES
    ('hs', 'HS256', pg_read_file('$K/hs.key'), NULL),
    ('rs', 'RS256', pg_read_file('$K/rsa.pub'), pg_read_file('$K/rsa.pem')),
    ('es', 'ES256', pg_read_file('$K/ec.pub'), NULL),
    ('old', 'HS256', pg_read_file('$K/other.key'), NULL),
    ('metabase', 'HS256', pg_read_file('$K/metabase.key'), NULL);
UPDATE car.jwt_key SET enabled = false WHERE kid = 'old';
INSERT INTO car.jwt_key (kid, alg, key, issuer, audience) VALUES ('strict', 'HS256', pg_read_file('$K/hs.key'), 'https://127.0.0.1:9443/idp', 'car');
SELECT car.add_source('dept-a', NULL, 'push', 'ecodriver', '{"org": "A"}');
SELECT car.add_source('dept-b', NULL, 'push', 'ecodriver', '{"org": "B"}');
SELECT car.push('dept-a', 'a.csv', pg_read_binary_file('$W/a.csv'));
SELECT car.push('dept-b', 'b.csv', pg_read_binary_file('$W/b.csv'));
SELECT car.refresh();
SELECT car.grant_roles();
CREATE ROLE analyst LOGIN IN ROLE car_reader;
GRANT SELECT ON car.reading, car.source_file, car.source TO analyst;
CREATE ROLE auditor LOGIN IN ROLE car_admin;
CREATE ROLE loader LOGIN IN ROLE car_ingest;
SQL
)
rc=$?
echo "$out" | grep -i error | sed 's/^/# /'
ok $rc "server with car, keys HS256/RS256/ES256 from openssl, org A (2 sites) and org B (3 sites) loaded and refreshed"

hs() { $M --header "{\"alg\":\"HS256\",\"kid\":\"${2:-hs}\",\"typ\":\"JWT\"}" --payload "$1" --sign hs256 --key "$K/${3:-hs}.key"; }
P='{"sub":"tester","org":"A","exp":"NOW+600"}'

# --- accepted
accepted "$(hs "$P")" "a valid HS256 token is accepted"
accepted "$($M --header '{"alg":"RS256","kid":"rs"}' --payload "$P" --sign rs256 --key "$K/rsa.pem")" "a valid RS256 token is accepted"
accepted "$($M --header '{"alg":"ES256","kid":"es"}' --payload "$P" --sign es256 --key "$K/ec.pem")" "a valid ES256 token is accepted"

# --- refused
refused "$($M --header '{"alg":"none","kid":"hs"}' --payload "$P" --sign none)" 'no signature.*alg "none"' 'alg none with an empty signature'
refused "$($M --header '{"alg":"none","kid":"hs"}' --payload "$P" --sign raw --sig AAAA)" 'alg "none"' 'alg none with a signature'
refused "$($M --header '{"alg":"HS384","kid":"hs"}' --payload "$P" --sign hs384 --key "$K/hs.key")" 'its alg HS384 is not HS256' "a header alg that differs from the key's"
refused "$($M --header '{"alg":"HS256","kid":"rs"}' --payload "$P" --sign hs256 --key "$K/rsa.pub")" 'its alg HS256 is not RS256' "key confusion: HS256 signed with the RS256 key's public PEM"
refused "$($M --header '{"alg":"RS256","kid":"rs"}' --payload "$P" --sign hs256 --key "$K/rsa.pub")" 'signature does not verify' "an RS256 header over an HMAC made with the public PEM"
refused "$(hs "$P" nosuchkey)" 'no key has kid "nosuchkey"' 'an unknown kid'
refused "$(hs "$P" old other)" 'key "old" is disabled' 'a disabled kid'
refused "$($M --header '{"alg":"HS256"}' --payload "$P" --sign hs256 --key "$K/hs.key")" 'no kid' 'no kid at all'
refused "$(hs "$P" hs other)" 'signature does not verify' 'signed with another secret'

# time claims at the edge of the 30 s leeway, on both sides
q "ALTER SYSTEM SET car.jwt_leeway = 30" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null
accepted "$(hs '{"sub":"tester","exp":"NOW-25"}')" 'expired 25 s ago: inside the 30 s leeway'
refused "$(hs '{"sub":"tester","exp":"NOW-35"}')" 'it expired at' 'expired 35 s ago: outside the leeway'
accepted "$(hs '{"sub":"tester","exp":"NOW+600","nbf":"NOW+25"}')" 'valid from 25 s ahead: inside the leeway'
refused "$(hs '{"sub":"tester","exp":"NOW+600","nbf":"NOW+35"}')" 'not valid before' 'valid from 35 s ahead: outside the leeway'
refused "$(hs '{"sub":"tester","exp":"NOW+600","iat":"NOW+300"}')" 'issued in the future' 'issued 5 minutes in the future'
refused "$(hs '{"sub":"tester"}')" 'no exp' 'a token without exp'
out=$(as_postgres "$PGBIN/psql" -X -qAt -h "$W" -p "$PORT" -d car -c "SET car.jwt_require_exp = off" -c "SELECT car.verify_jwt('$(hs '{"sub":"tester"}')')->>'sub'" 2>&1)
[ "$out" = tester ]
ok $? 'without exp when car.jwt_require_exp = off (superuser setting)'
out=$(q "SET ROLE analyst; SET car.jwt_require_exp = off")
echo "$out" | grep -q 'permission denied to set parameter "car.jwt_require_exp"'
ok $? 'a user cannot turn car.jwt_require_exp off'

# issuer and audience
accepted "$(hs '{"sub":"tester","exp":"NOW+600","iss":"https://127.0.0.1:9443/idp","aud":["x","car"]}' strict)" 'right iss, aud array naming car'
refused "$(hs '{"sub":"tester","exp":"NOW+600","iss":"https://127.0.0.1:9443/evil","aud":"car"}' strict)" 'issuer (iss) is not' 'wrong iss'
refused "$(hs '{"sub":"tester","exp":"NOW+600","aud":"car"}' strict)" 'issuer (iss) is not' 'missing iss'
refused "$(hs '{"sub":"tester","exp":"NOW+600","iss":"https://127.0.0.1:9443/idp","aud":"other"}' strict)" 'audience (aud) does not include "car"' 'wrong aud'

# one flipped bit
T=$(hs "$P")
flip_payload=$(python3 - "$T" <<'PY'
import base64, sys
h, p, s = sys.argv[1].split(".")
raw = bytearray(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
i = raw.index(b'"A"') + 1
raw[i] ^= 0x02  # "A" -> "C": still valid JSON
print(h + "." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode() + "." + s)
PY
)
refused "$flip_payload" 'signature does not verify' 'one bit flipped in the payload (org A -> C)'
flip_sig=$(python3 - "$T" <<'PY'
import base64, sys
h, p, s = sys.argv[1].split(".")
raw = bytearray(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
raw[5] ^= 0x01
print(h + "." + p + "." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode())
PY
)
refused "$flip_sig" 'signature does not verify' 'one bit flipped in the signature'
refused "${T%%.*}.$(echo "$T" | cut -d. -f2)*.$(echo "$T" | cut -d. -f3)" 'payload is not base64url' 'bad base64 (a * in the payload)'
refused "${T}=" 'signature is not base64url' 'bad base64 (padding)'
refused "$(echo "$T" | cut -d. -f1-2)" 'three parts' 'two parts only'
refused "$($M --header '{"alg":"HS256","kid":"hs","kid":"rs"}' --payload "$P" --sign hs256 --key "$K/hs.key")" 'member twice' 'a header with kid twice'
refused "$($M --header '{"alg":"HS256","kid":"hs"}' --payload '{"sub":"tester","exp":"soon"}' --sign hs256 --key "$K/hs.key")" 'not a number' 'exp that is not a number'
big=$(python3 -c "print('a' * (1024 * 1024))")
out=$(echo "SELECT car.verify_jwt('$big.$big.$big')" | as_postgres "$PGBIN/psql" -X -qAt -v VERBOSITY=verbose -h "$W" -p "$PORT" -d car 2>&1)
echo "$out" | grep -q 'ERROR:  28000: invalid token: it is longer than 16 kB'
ok $? 'a 3 MB token is refused unread'

# --- row-level security
T_A=$(hs '{"sub":"ann","org":"A","exp":"NOW+600"}')
T_B=$(hs '{"sub":"bo","orgs":["B"],"exp":"NOW+600"}')
T_ADMIN=$(hs '{"sub":"root","admin":true,"exp":"NOW+600"}')
counts="SELECT coalesce((SELECT string_agg(DISTINCT org, ',') FROM car.site), '') || '|' || (SELECT count(*) FROM car.site) || '|' || (SELECT count(*) > 0 FROM car.reading) || '|' || (SELECT count(DISTINCT meter_id) FROM car.reading) || '|' || (SELECT coalesce(string_agg(DISTINCT organisation, ','), '-') FROM car.report_monthly) || '|' || (SELECT count(*) FROM car.source_file)"
expect_a=$(q "SELECT 'A|' || count(*) FILTER (WHERE s.org = 'A') || '|true|' || (SELECT count(*) FROM car.meter m JOIN car.site s2 ON s2.id = m.site_id WHERE s2.org = 'A') || '|A|1' FROM car.site s")
out=$(q "SET ROLE analyst; SELECT car.authenticate('$T_A') IS NOT NULL; $counts" | tail -1)
echo "# org A token sees: $out (computed as superuser: $expect_a)"
[ "$out" = "$expect_a" ]
ok $? "a token for org A sees only A's sites, readings, report rows and files"
out=$(q "SET ROLE analyst; $counts" | tail -1)
echo "# no token: $out"
[ "$out" = "|0|false|0|-|0" ]
ok $? 'the same queries without authenticate see nothing'
out=$(q "SET ROLE analyst; SELECT car.authenticate('$T_B') IS NOT NULL; $counts" | tail -1)
echo "# orgs [B] token sees: $out"
case "$out" in B\|3\|true\|3\|B\|1) ok 0 'a token with orgs ["B"] sees only B' ;; *) ok 1 'a token with orgs ["B"] sees only B' ;; esac
all=$(q "$counts")
out=$(q "SET ROLE auditor; $counts" | tail -1)
[ "$out" = "$all" ]
ok $? "a member of car_admin sees everything ($out)"
out=$(q "SET ROLE analyst; SELECT car.authenticate('$T_ADMIN') IS NOT NULL; $counts" | tail -1)
[ "$out" = "$all" ]
ok $? 'a token with admin: true sees everything'
out=$(as_postgres "$PGBIN/psql" -X -qAt -h "$W" -p "$PORT" -d car 2>&1 <<SQL
SET ROLE analyst;
BEGIN;
SELECT car.authenticate('$T_A', local => true) IS NOT NULL;
SELECT count(*) FROM car.site;
COMMIT;
SELECT count(*) FROM car.site;
SELECT car.claims() IS NULL;
SQL
)
[ "$(echo "$out" | tr '\n' ' ')" = "t 2 0 t " ]
ok $? "authenticate(local => true) no longer applies in the next transaction ($(echo "$out" | tr '\n' ' '))"
out=$(as_postgres "$PGBIN/psql" -X -qAt -h "$W" -p "$PORT" -d car 2>&1 <<SQL
SET ROLE analyst;
SELECT car.authenticate('$T_A') IS NOT NULL;
DISCARD ALL;
SET ROLE analyst;
SELECT count(*) FROM car.site;
SELECT car.authenticate('$T_A') IS NOT NULL;
RESET ALL;
SELECT count(*) FROM car.site;
SELECT car.authenticate('$T_A') IS NOT NULL;
SELECT car.authenticate('not.a.token');
SELECT count(*) FROM car.site;
SQL
)
[ "$(echo "$out" | grep -v ERROR | tr '\n' ' ')" = "t 0 t 0 t 0 " ]
ok $? "DISCARD ALL, RESET ALL and a refused authenticate drop the claims ($(echo "$out" | grep -v ERROR | tr '\n' ' '))"
out=$(as_postgres "$PGBIN/psql" -X -qAt -h "$W" -p "$PORT" -d car 2>&1 <<SQL
SET ROLE analyst;
SET car.claims = '{"org": "A"}';
SELECT set_config('car.claims', '{"org": "A"}', false);
SET request.jwt.claims = '{"org": "A", "admin": true}';
SELECT set_config('car.claim.org', 'A', false);
SELECT count(*) FROM car.site;
SELECT car.claims() IS NULL;
SQL
)
echo "$out" | sed 's/^/# /'
[ "$(echo "$out" | grep -c 'DETAIL:  "car" is a reserved prefix')" = 3 ] && [ "$(echo "$out" | grep -v ERROR | grep -v DETAIL | tr '\n' ' ')" = "0 t " ]
ok $? 'claims cannot be forged with SET or set_config'

# --- token-taking report functions
out=$(q "SET ROLE analyst; SELECT string_agg(DISTINCT organisation, ',') || '|' || count(*) FROM car.report_monthly_for('$T_A')" | tail -1)
want=$(q "SELECT 'A|' || count(*) FROM car.report_monthly WHERE organisation = 'A'")
[ "$out" = "$want" ]
ok $? "report_monthly_for(token A) = A's rows of car.report_monthly ($out)"
out=$(q "SELECT string_agg(DISTINCT organisation, ',') FROM car.report_yearly_for('$T_B')")
[ "$out" = B ]
ok $? 'report_yearly_for(token B), called by a superuser, is still limited to B'
out=$(q "SELECT count(*) FROM car.report_scope_for('$(hs '{"sub":"x","sites":[1],"exp":"NOW+600"}')')")
want=$(q "SELECT count(*) FROM car.report_scope WHERE site_id = 1")
[ "$out" = "$want" ] && [ "$out" -gt 0 ]
ok $? "report_scope_for(token with sites: [1]) = site 1's rows ($out)"
out=$(qv "SELECT count(*) FROM car.report_monthly_for('$(hs '{"sub":"x","org":"A","exp":"NOW-600"}')')")
echo "$out" | grep -q 'ERROR:  28000: invalid token: it expired'
ok $? 'report_monthly_for refuses an expired token'

# --- the push API behind a token
python3 "$ROOT/test/gen/ecodriver.py" --out "$W/a2" --sites 1 --meters 1 --start 2022-04-01 --days 1 --seed 13 --junk 0 --extra-days "" >/dev/null
chmod a+r "$W/a2.csv"
hex=$(python3 -c "import sys; print(open(sys.argv[1], 'rb').read().hex())" "$W/a2.csv")
push() { q "SET ROLE loader; SELECT status || '/' || rows_loaded FROM car.push('$1', '$2', 'a2.csv', decode('$hex', 'hex'))" 2>&1; }
out=$(push "$(hs '{"sub":"app","org":"A","scope":"read push","exp":"NOW+600"}')" dept-a)
echo "$out" | grep -qx "loaded/48"
ok $? "push with a token of scope push for org A into A's source ($out)"
out=$(push "$(hs '{"sub":"app","org":"A","scope":"read","exp":"NOW+600"}')" dept-a)
echo "$out" | grep -q 'does not grant the scope "push"'
ok $? 'push refused without the scope push'
out=$(push "$(hs '{"sub":"app","org":"A","scp":["push"],"exp":"NOW+600"}')" dept-b)
echo "$out" | grep -q 'the token does not allow pushing to source "dept-b"'
ok $? "push refused into another organisation's source"

# --- signing
out=$(q "SELECT car.sign_jwt('{\"sub\":\"tester\",\"org\":\"A\",\"exp\":4102444800}', 'rs')")
python3 - "$out" "$K" <<'PY'
import base64, subprocess, sys
tok, k = sys.argv[1], sys.argv[2]
h, p, s = tok.split(".")
pad = lambda x: x + "=" * (-len(x) % 4)
open(k + "/sig.bin", "wb").write(base64.urlsafe_b64decode(pad(s)))
open(k + "/input.bin", "wb").write((h + "." + p).encode())
r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", k + "/rsa.pub", "-signature", k + "/sig.bin", k + "/input.bin"], capture_output=True, text=True)
sys.exit(0 if r.stdout.strip() == "Verified OK" and b'"kid":"rs"' in base64.urlsafe_b64decode(pad(h)) else 1)
PY
ok $? 'sign_jwt with the RS256 key: openssl verifies the signature, the header names kid rs'
out=$(q "SELECT car.sign_jwt('{\"sub\":\"x\"}', 'es')")
echo "$out" | grep -q 'has no private key'
ok $? 'sign_jwt refuses a key whose private key is not stored'
out=$(q "SET ROLE analyst; SELECT car.sign_jwt('{\"sub\":\"x\"}', 'hs')")
echo "$out" | grep -q 'permission denied for function sign_jwt'
ok $? 'only car_admin may sign'
out=$(q "SET ROLE analyst; SELECT count(*) FROM car.jwt_key")
echo "$out" | grep -q 'permission denied for table jwt_key'
ok $? 'keys are not readable by car_reader'

url=$(q "SELECT car.metabase_embed_url('http://127.0.0.1:3000/', 7, '{\"site\": \"Site 1\"}', '10 minutes', 'metabase')")
echo "# $url" | cut -c1-120
python3 - "$url" "$K/metabase.key" <<'PY'
import base64, hashlib, hmac, json, sys, time
url, keyfile = sys.argv[1], sys.argv[2]
prefix = "http://127.0.0.1:3000/embed/dashboard/"
assert url.startswith(prefix) and url.endswith("#bordered=true&titled=true"), url
tok = url[len(prefix):-len("#bordered=true&titled=true")]
h, p, s = tok.split(".")
pad = lambda x: x + "=" * (-len(x) % 4)
secret = open(keyfile, "rb").read()
want = hmac.new(secret, (h + "." + p).encode(), hashlib.sha256).digest()
assert hmac.compare_digest(want, base64.urlsafe_b64decode(pad(s))), "HS256 signature"
assert json.loads(base64.urlsafe_b64decode(pad(h)))["alg"] == "HS256"
claims = json.loads(base64.urlsafe_b64decode(pad(p)))
assert claims["resource"] == {"dashboard": 7}, claims
assert claims["params"] == {"site": "Site 1"}, claims
assert abs(claims["exp"] - (time.time() + 600)) < 30, claims
PY
ok $? 'metabase_embed_url: the URL shape, and an independent HS256 check (python hmac) of its token, resource, params and exp'

echo "1..$n"
