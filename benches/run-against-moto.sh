#!/usr/bin/env bash
# Benchmark A in one command: creates .venv (moto, awscli, boto3) when missing, builds the release
# exporter, then runs benches/against_moto.py (about 15 minutes). Extra arguments go to the script.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_python_tools
exec .venv/bin/python benches/against_moto.py "$@"
