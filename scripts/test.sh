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
    chromium firefox-esr iproute2 sip-tester baresip linphone-cli espeak-ng sox >/dev/null
# The tests have their own environment: reinstalling into the one `scripts/serve.sh` runs
# from would pull the package from under a running server.
VENV=.venv-test
[ -x $VENV/bin/python ] || python3 -m venv $VENV
$VENV/bin/pip install -q --upgrade pip
$VENV/bin/pip install -q -e ".[test]"
export PATH="$PWD/$VENV/bin:$PATH"   # tools the tests start: schemathesis' `st`
# a real OpenID Connect provider for the sign-in tests (needs Node.js 20 or newer)
if command -v npm >/dev/null && node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
    npm ci --prefix tests/integration/api/oidc --no-audit --no-fund --silent
    # puppeteer-core drives Debian's firefox-esr over WebDriver BiDi (tests/e2e/browsers.py)
    npm ci --prefix tests/e2e/firefox --no-audit --no-fund --silent
else
    echo "warning: Node.js 20+ not found: the OpenID Connect sign-in and Firefox tests will be skipped" >&2
fi
$VENV/bin/ruff check src tests benchmarks
$VENV/bin/mypy
# the layer contract and no import cycle (pyproject.toml [tool.importlinter])
$VENV/bin/lint-imports --no-cache --no-logo
exec $VENV/bin/python -m pytest "$@"
