#!/usr/bin/env bash
# Install snapconf on a fresh Debian 12+ machine and run it on its embedded defaults:
# pages and signaling on http://127.0.0.1:8080, all media on UDP 127.0.0.1:10000.
# Extra arguments go to `snapconf serve` (e.g. --host 0.0.0.0 --announced-ip 203.0.113.10).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq python3 python3-venv python3-dev build-essential libopus0 >/dev/null
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q .
exec .venv/bin/snapconf serve "$@"
