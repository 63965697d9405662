#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian 12+ machine, then run lint, types
# and the whole test suite: unit, integration (real aiortc peers), e2e (headless
# Chromium, SIPp, baresip). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq python3 python3-venv python3-dev build-essential libopus0 \
    chromium sip-tester baresip espeak-ng sox >/dev/null
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e ".[test]"
.venv/bin/ruff check src tests benchmarks
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
