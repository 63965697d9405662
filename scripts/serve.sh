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
# The development sign-in (an e-mail typed in, trusted) is off by default; this laptop
# run turns it on. The server refuses it to any peer but loopback, even with --host 0.0.0.0.
export SNAPCONF_ORGANISERS_DEV_LOGIN="${SNAPCONF_ORGANISERS_DEV_LOGIN:-true}"
exec .venv/bin/snapconf serve "$@"
