#!/usr/bin/env bash
# What the browser tests (tests/web/) need on a fresh machine: Debian's chromium (Playwright drives it; no
# browser is ever downloaded) and Noto fonts, so screenshots show real text in every script.
# Idempotent and quick when both are there. It never fails `make test`: where it cannot install (not root,
# no apt-get), it says so, and the browser tests skip with the same reason.
set -u

missing=()
[ -x "${CINELIBRE_CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
dpkg-query -W -f='${Status}' fonts-noto-core 2>/dev/null | grep -q "install ok installed" || missing+=(fonts-noto-core)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "browser tests: ${missing[*]} not installed and this is not root with apt-get; tests/web will be skipped." >&2
  echo "  install them with: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
  exit 0
fi

echo "installing ${missing[*]} for the browser tests (Debian packages)"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
  echo "browser tests: could not install ${missing[*]}; tests/web will be skipped." >&2
fi
exit 0
