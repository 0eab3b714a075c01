#!/usr/bin/env bash
# The system packages the tests need, from Debian, installed only where missing: PostgreSQL's
# server (the many-machines search is tested against a real one, which the tests start on
# 127.0.0.1) and Chromium (the HTML report is checked in a real headless browser). With both
# present it does nothing; otherwise it needs apt-get, and sudo when not run as root.
set -euo pipefail

missing=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  missing+=(chromium)
fi
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-packages: the tests need ${missing[*]}, and there is no apt-get here to install" \
    "them: install them with your system's package manager" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "system-packages: installing ${missing[*]} (Debian packages)"
$sudo apt-get update -q
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  "${missing[@]}"
