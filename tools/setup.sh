#!/usr/bin/env bash
# Installs numapin's build and test dependencies from Debian packages (only those missing),
# configures and builds into build/, then runs the demo (--demo) or every test (--test).
#
#   tools/setup.sh --demo     build, then run tools/demo
#   tools/setup.sh --test     build, then run every ctest label
#   tools/setup.sh            install and build only
set -euo pipefail

cd "$(dirname "$0")/.."

# Build and runtime packages. Test-only peers (Prometheus, qemu, npm packages) are installed
# here too so that a fresh machine runs every test with this one script.
packages=(
  build-essential cmake ninja-build pkg-config git
  clang llvm libbpf-dev bpftool linux-libc-dev
  libhwloc-dev hwloc libabsl-dev libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev libyaml-cpp-dev
  libcurl4-openssl-dev libssl-dev libspdlog-dev libfmt-dev prometheus-cpp-dev
  libcap2-bin python3 openssl curl
)
if [[ -f tools/extra-packages.txt ]]; then
  # One package a line; '#' starts a comment.
  while read -r pkg; do packages+=("$pkg"); done < <(sed 's/#.*//' tools/extra-packages.txt | xargs -n1)
fi

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: installing packages needs root; run this script with sudo" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [[ -f tools/npm-setup.sh ]]; then
  tools/npm-setup.sh
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"

case "${1:-}" in
  --demo) exec tools/demo ;;
  --test) exec tools/run-tests ;;
  "") ;;
  *) echo "setup: unknown option '$1'; expected --demo or --test" >&2; exit 2 ;;
esac
