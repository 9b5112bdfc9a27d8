#!/usr/bin/env bash
# Installs the system tools the end-to-end tests drive, when missing: a real HAProxy is put in
# front of the server to test PROXY v2. Runs before `npm test` (the pretest script).
set -euo pipefail
if command -v haproxy >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test-tools: haproxy is missing; install it (Debian: apt-get install haproxy) and run npm test again" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >/dev/null
