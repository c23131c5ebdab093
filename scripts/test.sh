#!/usr/bin/env bash
# The full test run: the workspace tests, then the property-based run of the
# real server against its own OpenAPI document (scripts/schemathesis.sh).
# Installs what it needs (schemathesis from PyPI; curl, Chromium with its
# WebDriver and a CJK font for the console's browser test, Prometheus (and
# promtool) for the alert-quality and PromQL comparisons, and
# VictoriaMetrics for the remote write test, from Debian if missing).
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

MISSING=()
command -v curl >/dev/null 2>&1 || MISSING+=(curl)
if [ "${OXMON_BROWSER_TESTS:-1}" != 0 ]; then
  command -v chromium >/dev/null 2>&1 || MISSING+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || MISSING+=(chromium-driver)
  # A small CJK font, so the 中文 console renders in the screenshots.
  [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || MISSING+=(fonts-wqy-microhei)
fi
# The peers: Prometheus and promtool (tests/alert_quality.rs, the PromQL
# corpus loaded through remote write), VictoriaMetrics (tests/remote_write.rs);
# OXMON_PEER_TESTS=0 skips those tests.
if [ "${OXMON_PEER_TESTS:-1}" != 0 ]; then
  command -v promtool >/dev/null 2>&1 || MISSING+=(prometheus)
  command -v victoria-metrics >/dev/null 2>&1 || MISSING+=(victoria-metrics)
fi
if [ "${#MISSING[@]}" -gt 0 ]; then
  echo "== installing ${MISSING[*]} from Debian"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${MISSING[@]}"
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "python3 is required for scripts/schemathesis.sh" >&2
  exit 1
fi
if ! python3 -c 'import schemathesis' >/dev/null 2>&1; then
  echo "== installing schemathesis from PyPI"
  python3 -m pip install --quiet schemathesis
fi

echo "== cargo test --workspace --all-features"
cargo test --workspace --all-features

echo "== schemathesis against the running server"
bash scripts/schemathesis.sh
