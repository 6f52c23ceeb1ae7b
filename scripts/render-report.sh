#!/usr/bin/env bash
# Renders a report directory's report.html to a PNG with Debian's headless Chromium, to check
# the page as a browser shows it.
#
#   scripts/render-report.sh REPORT_DIR [OUT.png]     (default OUT: REPORT_DIR/report.png)
#
# Installs the `chromium` package (apt-get) when no Chromium is found.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 REPORT_DIR [OUT.png]" >&2
  exit 2
fi
dir=$1
html="$dir/report.html"
if [ ! -f "$html" ]; then
  echo "$html not found: pass a report directory written by \`wschaos run\`" >&2
  exit 2
fi
out=${2:-$dir/report.png}

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "chromium not found: installing Debian's chromium package" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  browser=$(command -v chromium)
fi

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
abs_html=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
case $out in
  /*) abs_out=$out ;;
  *) abs_out=$PWD/$out ;;
esac

"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars \
  --screenshot="$abs_out" --window-size=1400,3000 "file://$abs_html" 2>/dev/null
echo "$abs_out"
