#!/usr/bin/env bash
# Installs the npm packages that the manifest and alert-rule tests use into deploy/test/node_modules
# (gitignored), exactly as deploy/test/package-lock.json pins them, and skips the install when
# that lock file has not changed since the last one. tools/setup.sh calls this script.
#
# It also makes sure a kubectl is present for the kustomize render test: this machine image ships
# one (Google's kubectl package, which owns /usr/bin/kubectl), and elsewhere Debian's
# kubernetes-client provides it. The two packages conflict on that file, so Debian's is installed
# only when no kubectl exists, which is why it is not in tools/extra-packages.txt.
#
# NUMAPIN_BUILD_ONLY=1 skips everything here; the Dockerfile's build stage sets it.
set -euo pipefail

cd "$(dirname "$0")/.."
if [[ -n "${NUMAPIN_BUILD_ONLY:-}" ]]; then
  echo "npm-setup: NUMAPIN_BUILD_ONLY is set; skipping the test-only npm packages and kubectl"
  exit 0
fi
package_dir=deploy/test
stamp="$package_dir/node_modules/.numapin-lock-sha256"

if ! command -v npm >/dev/null; then
  echo "npm-setup: npm not found; install Node.js 20 or later with npm" >&2
  exit 1
fi

lock_sha=$(sha256sum "$package_dir/package-lock.json" | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$lock_sha" ]]; then
  echo "npm-setup: $package_dir/node_modules is up to date"
else
  echo "npm-setup: installing npm packages into $package_dir/node_modules"
  # The packages declare node >= 22; the tests pass with Node.js 20, so the engine warning is
  # expected and not fatal.
  (cd "$package_dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sha" > "$stamp"
fi

if ! command -v kubectl >/dev/null; then
  echo "npm-setup: no kubectl found; installing Debian's kubernetes-client"
  if [[ $(id -u) -ne 0 ]]; then
    echo "npm-setup: installing kubernetes-client needs root; run tools/setup.sh with sudo" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kubernetes-client
fi
