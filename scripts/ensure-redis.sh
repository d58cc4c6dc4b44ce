#!/usr/bin/env bash
# Ensure a `redis-server` binary is available for the test harness (test/support/redis.ts).
#
# - Looks for redis-server on PATH, then /usr/bin, /usr/sbin and /usr/local/bin.
# - If it is missing and we are root, installs the Debian/Ubuntu `redis-server` package
#   (without letting the package start its own service).
# - Prints the version; exits non-zero with a clear message if redis-server still cannot be found.
#
# The Debian package ships a system service listening on 127.0.0.1:6379. The test harness never uses
# port 6379 (it always picks free ephemeral ports), so that service is irrelevant; we nevertheless
# keep it from being started during installation and stop it if it was started anyway.
set -euo pipefail

find_redis_server() {
  local candidate
  if candidate="$(command -v redis-server 2>/dev/null)" && [ -n "$candidate" ]; then
    printf '%s\n' "$candidate"
    return 0
  fi
  for candidate in /usr/bin/redis-server /usr/sbin/redis-server /usr/local/bin/redis-server; do
    if [ -x "$candidate" ]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}

install_redis_server() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-redis: redis-server not found and not running as root; cannot apt-get install it." >&2
    echo "ensure-redis: install it yourself, e.g. 'sudo apt-get install -y redis-server'." >&2
    return 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-redis: redis-server not found and apt-get is not available on this machine." >&2
    return 1
  fi

  echo "ensure-redis: redis-server not found; installing the redis-server package with apt-get..." >&2

  # Keep the package's postinst from starting the system service (port 6379) - we never use it.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created_policy=1
  fi

  local status=0
  DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server || status=$?

  if [ "$created_policy" -eq 1 ]; then
    rm -f "$policy"
  fi

  # If a service manager started it anyway, stop it; failures here are harmless.
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl stop redis-server >/dev/null 2>&1 || true
  elif command -v service >/dev/null 2>&1; then
    service redis-server stop >/dev/null 2>&1 || true
  fi

  return "$status"
}

if ! redis_bin="$(find_redis_server)"; then
  install_redis_server || true
  if ! redis_bin="$(find_redis_server)"; then
    echo "ensure-redis: ERROR: redis-server is still not available (looked on PATH, /usr/bin, /usr/sbin, /usr/local/bin)." >&2
    echo "ensure-redis: the Redis test harness needs a local redis-server binary (>= 7.0)." >&2
    exit 1
  fi
fi

echo "ensure-redis: using $redis_bin"
"$redis_bin" --version
