#!/usr/bin/env bash
# Installs what the demo and the tests need, when it is missing: Debian packages (as root) and
# node_modules. Idempotent and quick when everything is there. `--ci` always runs `npm ci`.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(chromium openssh-server openssh-client apt-utils dpkg-dev gnupg sudo xz-utils pssh dctrl-tools util-linux)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: run as root, or first: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

if [ "${1:-}" = "--ci" ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
fi
