#!/usr/bin/env bash
# Install the Debian packages car needs (scripts/deps.sh), then build car and
# install it into PostgreSQL 15.  The one install recipe: make demo
# (scripts/demo.sh) and the Docker image (docker/Dockerfile) both run it.
# Extra Debian package names may be given as arguments.
set -euo pipefail
# deps.sh first: common.sh asks pg_config for paths, and on a fresh machine
# pg_config (postgresql-client-15) only exists once deps.sh has run.
"$(dirname "$0")/deps.sh" "$@"
source "$(dirname "$0")/common.sh"
echo "== building and installing car"
build_and_install
