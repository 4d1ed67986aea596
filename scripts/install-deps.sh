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
  python3-yaml libsystemd-dev systemd iproute2 nftables
  # the webhook test makes its receiver's certificate with openssl and runs it on python3; the
  # API test's client is python3 too
  openssl python3
  # the upgrade test unpacks an earlier release's log (tests/data/releases/*/broker-log.tar.xz)
  xz-utils
  libgtest-dev libgmock-dev libbenchmark-dev
  # make fuzz and make test-sanitize: clang 14 with libFuzzer and the sanitizer runtimes, and
  # llvm-symbolizer for readable sanitizer stack traces
  clang libclang-rt-14-dev llvm
  redis-server libhiredis-dev
  # the broker benchmark's PostgreSQL 15 peer (bench/broker_load: an event store with
  # synchronous_commit=on, its own cluster started in a temp dir, driven over libpq)
  postgresql libpq-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# promtool, to check the metrics pages in make test: only that program of Debian's prometheus
# package, taken out of the package, so that no Prometheus server is installed or started.
if ! command -v promtool > /dev/null 2>&1; then
  echo "install-deps: installing promtool from Debian's prometheus package"
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && apt-get download -qq prometheus 2> /dev/null); then
    $SUDO apt-get update -qq
    (cd "$tmp" && apt-get download -qq prometheus)
  fi
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
  $SUDO install -m 0755 "$tmp/root/usr/bin/promtool" /usr/local/bin/promtool
  rm -rf "$tmp"
fi
