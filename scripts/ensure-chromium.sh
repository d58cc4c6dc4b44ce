#!/usr/bin/env bash
# Ensure a Chromium binary for the browser tests (test/e2e, run by `pnpm test:e2e` with playwright-core).
#
# - Uses $CHROMIUM_PATH when set, else /usr/bin/chromium (Debian's `chromium` package).
# - If it is missing and we are root, installs the Debian package with apt-get.
#   (Never `playwright install`: the tests drive the system Chromium.)
# - Prints the version; exits non-zero with a clear message if Chromium still cannot be found.
set -euo pipefail

chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"

if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-chromium: $chromium not found and not running as root; cannot apt-get install it." >&2
    echo "ensure-chromium: install it yourself ('sudo apt-get install -y chromium') or set CHROMIUM_PATH." >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: $chromium not found and apt-get is not available; set CHROMIUM_PATH." >&2
    exit 1
  fi
  echo "ensure-chromium: $chromium not found; installing the chromium package with apt-get..." >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi

if [ ! -x "$chromium" ]; then
  echo "ensure-chromium: ERROR: $chromium is still missing (the package installs /usr/bin/chromium; set CHROMIUM_PATH otherwise)." >&2
  exit 1
fi

echo "ensure-chromium: using $chromium"
"$chromium" --version 2>/dev/null || true
