#!/usr/bin/env bash
# Installs Switchyard from this source tree the way it is installed in production:
#   1. npm pack: builds dist/ (the prepack script) and makes switchyard-<version>.tgz, which
#      carries its runtime dependencies (bundleDependencies) at the versions package-lock.json
#      pins and tested;
#   2. npm install --global --omit=dev --offline --prefix <prefix> <tarball>: no devDependency,
#      no build, nothing fetched from a registry;
#   3. checks the result: `switchyard --version` answers.
# Result: <prefix>/bin/switchyard and <prefix>/lib/node_modules/switchyard.
#
# The container recipe (deploy/container/Containerfile) and the packaging test
# (test/integration/packaging/install-package.test.ts) both run this script, so what ships is
# what is tested. Needs node and npm, and node_modules from `npm ci` (the build and the bundle).
#
# Usage: deploy/install-package.sh <prefix> [<tarball folder>]
#   <prefix>          where to install, e.g. /opt/switchyard
#   <tarball folder>  where npm pack writes the tarball (default: a temporary folder, removed after)
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 <prefix> [<tarball folder>]" >&2
  exit 2
fi
prefix=$1
root=$(cd "$(dirname "$0")/.." && pwd)

if [ $# -eq 2 ]; then
  pack_dir=$2
  mkdir -p "$pack_dir"
else
  pack_dir=$(mktemp -d)
  trap 'rm -rf "$pack_dir"' EXIT
fi
pack_dir=$(cd "$pack_dir" && pwd)

if [ ! -d "$root/node_modules" ]; then
  echo "$0: $root/node_modules is missing: run npm ci first (the build and the bundled dependencies come from it)" >&2
  exit 1
fi

# 1. The tarball (npm pack prints its file name last).
tarball=$(cd "$root" && npm pack --silent --pack-destination "$pack_dir" | tail -n 1)
echo "packed $pack_dir/$tarball"

# 2. The install.
npm install --global --omit=dev --offline --no-audit --no-fund --prefix "$prefix" "$pack_dir/$tarball"

# 3. The check.
echo "installed $("$prefix/bin/switchyard" --version) at $prefix (bin: $prefix/bin/switchyard)"
