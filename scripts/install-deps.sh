#!/usr/bin/env bash
# Installs the Debian 12 packages Passage builds, tests and benchmarks with.
# Non-interactive; a no-op (no apt-get call at all) when everything is present.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  protobuf-compiler libprotobuf-dev
  librocksdb-dev rocksdb-tools
  libzmq3-dev cppzmq-dev
  libsodium-dev libssl-dev libspdlog-dev libjemalloc-dev
  libcpp-httplib-dev libicu-dev chromium chromium-driver python3-selenium fonts-noto-ui-core
  python3-yaml libsystemd-dev systemd
  libgtest-dev libgmock-dev libbenchmark-dev
  redis-server libhiredis-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
