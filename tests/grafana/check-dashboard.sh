#!/usr/bin/env bash
# Checks Grafana dashboards against Grafana's own classic dashboard schema, the TypeScript types
# that @grafana/schema generates from Grafana's CUE (see dashboard-schema.ts for what exactly is
# checked and how). Each dashboard's JSON is pasted verbatim as an object literal typed as that
# schema, so tsc --strict refuses unknown keys, missing required keys, wrong types and values
# outside a schema's enum; errors are shown at the dashboard's own line and column.
#
#   tests/grafana/check-dashboard.sh                 every grafana/dashboards/*.json
#   tests/grafana/check-dashboard.sh FILE.json...    these files
#
# Installs tests/grafana/node_modules with `npm ci` when it is missing or not what
# package-lock.json pins. Exits 1 when a dashboard does not fit (or is not JSON), 2 on a usage
# or setup error.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
root="$(cd "$here/../.." && pwd -P)"

dashboards=()
if [ $# -gt 0 ]; then
  for f in "$@"; do
    [ -f "$f" ] || { echo "check-dashboard: no such file: $f" >&2; exit 2; }
    dashboards+=("$(cd "$(dirname "$f")" && pwd -P)/$(basename "$f")")
  done
else
  shopt -s nullglob
  dashboards=("$root"/grafana/dashboards/*.json)
  shopt -u nullglob
  [ ${#dashboards[@]} -gt 0 ] || { echo "check-dashboard: no grafana/dashboards/*.json" >&2; exit 2; }
fi

command -v node >/dev/null 2>&1 || { echo "check-dashboard: node and npm are needed (Debian: apt-get install nodejs npm)" >&2; exit 2; }

# node_modules as package-lock.json pins it?
installed_as_locked() {
  [ -x "$here/node_modules/.bin/tsc" ] && [ -f "$here/node_modules/@grafana/schema/package.json" ] &&
    node -e '
      const fs = require("fs");
      const lock = JSON.parse(fs.readFileSync(process.argv[1] + "/package-lock.json", "utf8")).packages;
      for (const [path, { version }] of Object.entries(lock)) {
        if (!path) continue;
        const pkg = process.argv[1] + "/" + path + "/package.json";
        if (!fs.existsSync(pkg) || JSON.parse(fs.readFileSync(pkg, "utf8")).version !== version) process.exit(1);
      }' "$here"
}
if ! installed_as_locked; then
  echo "check-dashboard: installing tests/grafana/node_modules (npm ci)" >&2
  (cd "$here" && npm ci --no-audit --no-fund --silent) || { echo "check-dashboard: npm ci failed" >&2; exit 2; }
fi

# Generated files go under .generated/ (git-ignored), one directory per run.
mkdir -p "$here/.generated"
tmp="$(mktemp -d "$here/.generated/check-dashboard.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
printf '{ "extends": "../../tsconfig.json", "include": ["*.ts", "../../dashboard-schema.ts"] }\n' >"$tmp/tsconfig.json"

status=0
(cd "$root" && node "$here/gen-dashboard-ts.mjs" gen "$tmp" "${dashboards[@]}") || status=1

cd "$here"
out="$tmp/tsc.out"
if node_modules/.bin/tsc -p "$tmp/tsconfig.json" --pretty false >"$out" 2>&1; then
  tsc_status=0
else
  tsc_status=$?
fi
node gen-dashboard-ts.mjs map "$tmp" <"$out" >"$tmp/errors.out"
cat "$tmp/errors.out"

passed=0
failed=0
for d in "${dashboards[@]}"; do
  shown="${d#"$root"/}"
  if ! grep -qF -- "\"$shown\"" "$tmp/files.json"; then
    failed=$((failed + 1)) # not JSON: the generator said so
  elif awk -v p="$shown:" 'index($0, p) == 1 { found = 1 } END { exit !found }' "$tmp/errors.out"; then
    failed=$((failed + 1))
  else
    passed=$((passed + 1))
  fi
done
if [ "$tsc_status" -ne 0 ]; then
  status=1
  if grep -q '^dashboard-schema\.ts(' "$tmp/errors.out" || [ "$failed" -eq 0 ]; then
    # The schema itself did not compile, or a canary was accepted: no dashboard is known good.
    echo "check-dashboard: the schema types are broken (see above); no dashboard was checked" >&2
    failed=${#dashboards[@]}
    passed=0
  fi
fi
echo "dashboards: $passed passed, $failed failed"
exit "$status"
