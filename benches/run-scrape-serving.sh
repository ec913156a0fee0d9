#!/usr/bin/env bash
# Benchmark C in one command: creates .venv (moto, boto3) when missing, builds the release exporter,
# then runs benches/scrape_serving.py (about 5 minutes; needs Debian's nginx and wrk). Extra
# arguments go to the script.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_python_tools
exec .venv/bin/python benches/scrape_serving.py "$@"
