#!/usr/bin/env bash
# Make sure Debian's Chromium is installed: the dashboard tests (tests/ui) drive it with
# Playwright (never a browser Playwright downloads itself). Installs it with apt when
# missing. Under CI=true a browser that cannot be installed fails the run (never a skip).
set -u

chromium="${RELEARN_CHROMIUM:-/usr/bin/chromium}"
install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x "$chromium" ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "ensure-browser: installing Debian's chromium" >&2
  install chromium 2>/dev/null || { apt-get update -qq && install chromium; }
fi

if [ ! -x "$chromium" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "ensure-browser: $chromium is missing and could not be installed" >&2
    exit 1
  fi
  echo "ensure-browser: $chromium is missing (the dashboard tests will be skipped)" >&2
fi
exit 0
