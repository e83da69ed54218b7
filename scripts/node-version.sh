#!/usr/bin/env bash
# Prints the bin folder of a Node.js of the given major version (22, 24, …), installed once from the
# npm registry's node-linux-<arch> package and cached under .baton-test/node/<major>:
#   PATH="$(bash scripts/node-version.sh 22):$PATH" node --version
# The package carries the headers (include/node) too, so native modules build for that Node offline.
set -euo pipefail
major="${1:?usage: scripts/node-version.sh MAJOR (e.g. 22)}"
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "no node-linux package for $(uname -m)" >&2; exit 1 ;;
esac
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/.baton-test/node/$major"
bin="$dir/node_modules/node-linux-$arch/bin"
if [ ! -x "$bin/node" ]; then
  mkdir -p "$dir"
  echo '{ "private": true }' >"$dir/package.json"
  npm install --prefix "$dir" --no-audit --no-fund --no-package-lock "node-linux-$arch@$major" >&2
fi
echo "$bin"
