#!/usr/bin/env bash
# Makes sure a Postgres server answers on 127.0.0.1:5432 (or at TEST_DATABASE_URL / DATABASE_URL):
# starts the local cluster when it is installed but stopped. Prints what it did; exits non-zero
# with the reason when no server can be had.
set -euo pipefail

url=${TEST_DATABASE_URL:-${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}}

ready() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -d "$url" -t 3
  else
    # No client tools: try the TCP port.
    (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
  fi
}

if ready; then
  exit 0
fi

if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  for version in $(ls /etc/postgresql); do
    echo "ensure-postgres: starting the local PostgreSQL $version cluster"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
  for _ in $(seq 1 30); do
    ready && exit 0
    sleep 1
  done
fi

echo "ensure-postgres: no Postgres answers at $url. Install and start PostgreSQL (apt-get install postgresql), or set TEST_DATABASE_URL." >&2
exit 1
