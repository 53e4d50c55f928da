#!/usr/bin/env bash
# Install what selfharness and its tests need on a fresh Debian machine: bubblewrap (the
# sandbox), the tools the built-in tasks use, chromium (the report's browser test) and
# nats-server (the distributed deployment and its tests).
# Idempotent; quiet when everything is there.
set -euo pipefail
need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v jq >/dev/null || need+=(jq)
command -v git >/dev/null || need+=(git)
command -v gcc >/dev/null || need+=(gcc)
command -v make >/dev/null || need+=(make)
[ -x /usr/bin/python3 ] || need+=(python3)
command -v chromium >/dev/null || need+=(chromium)
command -v nats-server >/dev/null || need+=(nats-server)
command -v setpriv >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "setup: cargo (Rust) is required: https://rustup.rs" >&2; exit 1; }
# The Python miner (python/): a venv in target/pyenv with code generated from proto/.
bash "$(dirname "$0")/python-setup.sh"
