#!/usr/bin/env bash
# Installs Chromium, which the Web UI test (test/e2e/web-ui.test.ts) drives headless through
# playwright-core, from Debian's packages: idempotent (nothing to do when /usr/bin/chromium runs),
# no prompts, no stdin. Needs root or password-less sudo. In CI (CI set) a failure to install is an
# error; elsewhere it is a warning, and the Web UI test says what to install.
set -euo pipefail

chromium=/usr/bin/chromium

if [ -x "$chromium" ] && "$chromium" --version >/dev/null 2>&1; then
  exit 0
fi

give_up() {
  echo "install-browser: $1" >&2
  echo "install-browser: the Web UI test needs Chromium at $chromium (Debian: apt-get install chromium)" >&2
  if [ -n "${CI:-}" ]; then exit 1; fi
  exit 0
}

command -v apt-get >/dev/null 2>&1 || give_up "no apt-get here"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    give_up "installing packages needs root or password-less sudo"
  fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-browser: installing chromium (Debian package) for the Web UI test"
# A fresh machine's package lists may be empty: refresh them when chromium has no candidate.
if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  "${sudo[@]}" apt-get update -qq </dev/null
fi
"${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium </dev/null >/dev/null
"$chromium" --version
