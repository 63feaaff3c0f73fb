#!/bin/sh
# The system tier's programs from Debian, installed when missing: Chromium and a CJK font for
# the browser tests and their screenshots (tests/system/e2e), Caddy, whose parser checks the
# HTTPS proxy's example (deploy/Caddyfile), and poppler-utils, whose pdftoppm renders the
# evidence pack's PDF. Only as root with apt-get (CI runs as root); anywhere else, or when apt
# cannot reach its mirror, those tests are skipped and say so: this never fails the build.
PACKAGES="chromium fonts-wqy-zenhei caddy poppler-utils"

missing() {
  for p in $PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || return 0; done
  return 1
}

missing || exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: $PACKAGES not all installed (needs root and apt-get); their tests will be skipped" >&2
  exit 0
fi
{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $PACKAGES; } ||
  echo "warning: could not install $PACKAGES; their tests will be skipped" >&2
exit 0
