# Shared set-up, sourced by scripts/test and scripts/demo: installs what is missing and is a
# no-op when everything is there.
#   ensure_debian_tools  Debian's prometheus (promtool) and prometheus-alertmanager (amtool)
#   ensure_python_tools  .venv with tests/requirements.txt (moto_server, aws, boto3)

ensure_debian_tools() {
  local missing=()
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
  command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
  command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  $sudo apt-get update -qq
  # The packages' services are not wanted: the tests start their own on loopback.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  # Some images start the daemons on install; stop them so they hold no ports.
  $sudo pkill -x prometheus 2>/dev/null || true
  $sudo pkill -x prometheus-alertmanager 2>/dev/null || true
}

ensure_python_tools() {
  local requirements="tests/requirements.txt"
  local stamp=".venv/.requirements"
  if [ -x .venv/bin/moto_server ] && [ -x .venv/bin/aws ] && cmp -s "$requirements" "$stamp"; then
    return 0
  fi
  echo "setup: creating .venv with $(grep -v '^#' "$requirements" | xargs)" >&2
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$stamp"
}

