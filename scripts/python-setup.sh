#!/usr/bin/env bash
# The Python miner's environment (python/miner): a venv at target/pyenv with the pinned
# python/requirements.txt, and the protobuf classes generated from proto/ into target/pyenv/gen
# (generated here, never committed). Idempotent, and instant when neither the requirements nor
# the .proto files changed since the last run. SELFHARNESS_PYTHON picks the interpreter
# (default: Debian's /usr/bin/python3, else python3 on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/pyenv
stamp=$venv/.stamp
want=$(cat python/requirements.txt proto/selfharness/v1/*.proto | sha256sum | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
py=${SELFHARNESS_PYTHON:-}
if [ -z "$py" ]; then
  if [ -x /usr/bin/python3 ]; then py=/usr/bin/python3; else py=python3; fi
fi
if ! "$py" -c 'import ensurepip, venv' 2>/dev/null; then
  # Debian ships venv support separately.
  echo "python-setup: installing python3-venv" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
fi
echo "python-setup: $venv (requirements and generated code)" >&2
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r python/requirements.txt
rm -rf "$venv/gen.new"
mkdir -p "$venv/gen.new"
"$venv/bin/python" -m grpc_tools.protoc -I proto \
  --python_out="$venv/gen.new" --pyi_out="$venv/gen.new" --grpc_python_out="$venv/gen.new" \
  proto/selfharness/v1/*.proto
rm -rf "$venv/gen"
mv "$venv/gen.new" "$venv/gen"
echo "$want" >"$stamp"
