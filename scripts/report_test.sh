#!/usr/bin/env bash
# `make report-test`: the reviewer's page (rrs report) in a real headless Chromium through selenium
# (tests/test_report_browser.py, marker `browser`). Debian's chromium and chromium-driver are apt-installed when
# missing (as root; otherwise it says which are missing, exit 2). Screenshots and pages: out/report-test/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if ((${#missing[@]})); then
  if [[ "$(id -u)" != 0 ]]; then
    echo "report-test needs Debian's ${missing[*]}: sudo apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
export RRS_CHROMIUM="$(command -v chromium)" RRS_CHROMEDRIVER="$(command -v chromedriver)"
export RRS_REPORT_TEST_OUT="${RRS_REPORT_TEST_OUT:-out/report-test}"
"$PY" -m pytest -q -m browser tests/test_report_browser.py
echo "screenshots: $RRS_REPORT_TEST_OUT/*.png"
