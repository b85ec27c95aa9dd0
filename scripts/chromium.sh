#!/usr/bin/env bash
# chromium.sh makes sure the browser tier has its headless browser: Debian's
# chromium package at /usr/bin/chromium (or the one HEED_CHROMIUM names).
# When it is missing and this runs as root, it installs it with apt-get
# (non-interactive, once); otherwise it says what to install. It prints the
# browser's path. The web view's browser test (web/browser_test.go) runs it
# as root with --no-sandbox, headless, with a fresh profile and no
# background networking.
set -euo pipefail

browser=${HEED_CHROMIUM:-/usr/bin/chromium}
if [ -x "$browser" ]; then
  echo "$browser"
  exit 0
fi
if [ -n "${HEED_CHROMIUM:-}" ]; then
  echo "chromium.sh: HEED_CHROMIUM=$HEED_CHROMIUM is not an executable" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "chromium.sh: /usr/bin/chromium is missing, and installing it needs root: run \`apt-get install chromium\`, or set HEED_CHROMIUM" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "chromium.sh: /usr/bin/chromium is missing and there is no apt-get to install it with: install Chromium, or set HEED_CHROMIUM" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y chromium >/dev/null || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }
echo /usr/bin/chromium
