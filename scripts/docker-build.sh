#!/usr/bin/env bash
# Build the selfharness image that plays every role (validator, coordinator, nats-server):
#   1. the binary: cargo build --release -p selfharness, or the one named by SELFHARNESS_BIN
#      (tests pass the binary they test, so no second build happens);
#   2. target/docker/rootfs.tar, a root filesystem copied from this machine's Debian packages
#      (scripts/docker/rootfs.py, scripts/docker/packages.txt): no registry is reachable, so
#      there is no base image to pull;
#   3. docker build with the root Dockerfile (FROM scratch).
# Each step is skipped when its inputs did not change: cargo's own check, the rootfs stamp (the
# package closure's versions), and the image's `selfharness.inputs` label (a hash of everything
# the image holds). The image is SELFHARNESS_IMAGE, default selfharness:local.
set -euo pipefail
cd "$(dirname "$0")/.."
image=${SELFHARNESS_IMAGE:-selfharness:local}
start=$(date +%s%N)
out=target/docker

command -v docker >/dev/null && docker info >/dev/null 2>&1 ||
  { echo "docker-build: no docker engine (docker info fails)" >&2; exit 1; }

# The rootfs copies installed packages: install the listed ones that are missing.
missing=$(python3 scripts/docker/rootfs.py --missing)
if [ -n "$missing" ]; then
  echo "docker-build: installing $missing" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

bin=${SELFHARNESS_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -q -p selfharness
  bin=target/release/selfharness
fi
python3 scripts/docker/rootfs.py "$out"
# Without its debug info (a debug build carries 180 MB of it); symbols stay for backtraces.
strip --strip-debug -o "$out/selfharness.tmp" "$bin"
mv "$out/selfharness.tmp" "$out/selfharness"

inputs=$(
  {
    cat "$out/rootfs.stamp" Dockerfile .dockerignore
    sha256sum "$out/selfharness"
    find tasks profiles harnesses scripts/docker -type f -printf '%p %m\n' | LC_ALL=C sort
    find tasks profiles harnesses scripts/docker -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-32
)
have=$(docker image inspect --format '{{ index .Config.Labels "selfharness.inputs" }}' "$image" 2>/dev/null || true)
if [ "$have" = "$inputs" ]; then
  echo "docker-build: $image is up to date" >&2
else
  docker build -q --label "selfharness.inputs=$inputs" -t "$image" . >/dev/null
  # The image this one replaces, now untagged (only images with our label are touched).
  docker image prune -f --filter label=selfharness.inputs >/dev/null
fi
size=$(docker image inspect --format '{{ .Size }}' "$image")
ms=$((($(date +%s%N) - start) / 1000000))
printf 'docker-build: %s, %d MB, %d.%d s\n' "$image" $((size / 1000000)) $((ms / 1000)) $((ms % 1000 / 100)) >&2
