#!/usr/bin/env bash
# Installs what the project needs from Debian's packages when it is missing:
# nats-server and redis-server (redis-cli comes with redis-tools). Rust comes from the machine;
# protobuf is compiled by a crate (protox), so no protoc is needed.
set -euo pipefail

missing=()
command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v cargo >/dev/null 2>&1 || { echo "cargo is missing: install Rust (rustup) first" >&2; exit 1; }

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "installing ${missing[*]} from Debian's packages"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

# Tests drive the platform with other people's client libraries, in a virtual environment of
# the project's own (python3 and its venv module come from Debian when missing): the official
# MCP Python SDK, and `standardwebhooks` to verify outgoing webhook signatures.
MCP_SDK_VERSION="2.3.0"
STANDARDWEBHOOKS_VERSION="1.1.0"
venv=".venv-mcp"
if ! "$venv/bin/python" -c "import mcp, standardwebhooks, importlib.metadata as m; assert m.version('mcp') == '$MCP_SDK_VERSION'; assert m.version('standardwebhooks') == '$STANDARDWEBHOOKS_VERSION'" >/dev/null 2>&1; then
  if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3 python3-venv
  fi
  echo "installing the MCP Python SDK $MCP_SDK_VERSION and standardwebhooks $STANDARDWEBHOOKS_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "mcp==$MCP_SDK_VERSION" "standardwebhooks==$STANDARDWEBHOOKS_VERSION"
fi
