#!/usr/bin/env bash
# Install the Debian packages car needs to build, test and run, if missing.
# Extra package names may be given as arguments.
set -euo pipefail

pkgs=(gcc make pkg-config
	postgresql-15 postgresql-server-dev-15 postgresql-15-cron
	libzip-dev libxml2-dev libxml2-utils libcurl4-openssl-dev libjwt-dev openssl
	libfreexl-dev # legacy .xls workbooks (src/xls.c)
	python3-xlwt python3-xlrd # test/gen/xls.py writes .xls fixtures; test/data/derive_xls.py (xlrd) made the 2017-2018 CSVs
	python3 python3-yaml curl ca-certificates
	openjdk-17-jdk-headless libpostgresql-jdbc-java # test/bi_client.sh: a JDBC client, as BI tools use
	"$@")

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "car needs these Debian packages: ${missing[*]}" >&2
	echo "install them as root: apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null || echo "apt-get update failed; trying the install with the lists we have" >&2
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
