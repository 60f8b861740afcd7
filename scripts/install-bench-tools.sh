#!/usr/bin/env bash
# Installs what only the benchmarks need, idempotently, into .tools/bench (never on CI's default path):
# the Temporal Python SDK, pinned, from PyPI, for bench/dispatch_latency.py (`npm run bench --
# dispatch-floor`). Fast when it is already there.
set -euo pipefail

TEMPORALIO_VERSION=1.35.0

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.tools/bench"
stamp="$venv/.installed-temporalio-$TEMPORALIO_VERSION"

if [ -f "$stamp" ] && [ -x "$venv/bin/python" ]; then
  exit 0
fi

python=$(command -v python3 || true)
if [ -z "$python" ]; then
  echo "install-bench-tools: python3 (3.9 or later) is needed to install the Temporal Python SDK (apt-get install python3 python3-venv)" >&2
  exit 1
fi

echo "install-bench-tools: installing temporalio==$TEMPORALIO_VERSION into .tools/bench"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "temporalio==$TEMPORALIO_VERSION"
"$venv/bin/python" -c 'import temporalio.worker; print("install-bench-tools: temporalio", temporalio.__version__ if hasattr(temporalio, "__version__") else "")'
touch "$stamp"
