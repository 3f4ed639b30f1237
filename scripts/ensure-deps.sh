#!/usr/bin/env bash
# Checks and installs what the project needs to build, run and test:
#   - Rust from rustup (cargo, and rustc at least the workspace's rust-version): checked, never
#     installed here; a missing or old one is a clear message naming rustup.
#   - From Debian's packages when missing (apt-get, with sudo when not root): a C compiler
#     (gcc, for the crates that compile C: ring, mimalloc), pkg-config, nats-server,
#     redis-server and redis-tools, python3 with venv.
#   - Into .venv-mcp (the project's own virtual environment): the client libraries the tests
#     drive the platform with.
# Protobuf is compiled by a crate (protox): no protoc.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "ensure-deps: $*" >&2
  exit 1
}

# Rust.
command -v cargo >/dev/null 2>&1 && command -v rustc >/dev/null 2>&1 ||
  fail "cargo and rustc are missing: install Rust with rustup (https://rustup.rs: curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh), then open a new shell"
need=$(sed -n 's/^rust-version = "\([0-9.]*\)"/\1/p' Cargo.toml | head -n1)
have=$(rustc --version | awk '{print $2}')
if [ -n "$need" ] && [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1)" != "$need" ]; then
  fail "rustc $have is older than this workspace's minimum $need: run 'rustup update stable' (or install Rust with rustup; Debian's rustc package is too old)"
fi

# Debian packages: command → package.
missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v python3 >/dev/null 2>&1 && python3 -c "import venv, ensurepip" >/dev/null 2>&1 ||
  missing+=(python3 python3-venv)

if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 ||
    fail "missing: ${missing[*]} (Debian package names); install them with your system's package manager"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || fail "missing: ${missing[*]}; as root: apt-get install ${missing[*]}"
    sudo="sudo"
  fi
  echo "installing ${missing[*]} from Debian's packages"
  # Installing a server package on a machine with systemd also starts and enables its service
  # (nats-server's without JetStream); scripts/ensure-services.sh does not rely on it and
  # starts its own where what answers is not usable.
  $sudo apt-get update -qq || fail "apt-get update failed; install ${missing[*]} by hand"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" ||
    fail "apt-get install ${missing[*]} failed"
fi

# Tests drive the platform with other people's client libraries, in a virtual environment of
# the project's own: the official MCP Python SDK, and `standardwebhooks` to verify outgoing
# webhook signatures.
MCP_SDK_VERSION="2.3.0"
STANDARDWEBHOOKS_VERSION="1.1.0"
venv=".venv-mcp"
if ! "$venv/bin/python" -c "import mcp, standardwebhooks, importlib.metadata as m; assert m.version('mcp') == '$MCP_SDK_VERSION'; assert m.version('standardwebhooks') == '$STANDARDWEBHOOKS_VERSION'" >/dev/null 2>&1; then
  echo "installing the MCP Python SDK $MCP_SDK_VERSION and standardwebhooks $STANDARDWEBHOOKS_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "mcp==$MCP_SDK_VERSION" "standardwebhooks==$STANDARDWEBHOOKS_VERSION"
fi
