#!/usr/bin/env bash
# Set up a fresh machine and run every test (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || sudo sh -c 'apt-get update -qq && apt-get install -y -qq chromium' >/dev/null
fi
[ -d .venv ] || python3 -m venv .venv
. .venv/bin/activate
pip install -q -r requirements-test.txt
python -m pytest -q "$@"
