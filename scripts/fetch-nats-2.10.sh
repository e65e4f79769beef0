#!/usr/bin/env bash
# Prints the path of a nats-server 2.10 binary for the tests of the republish update path (NATS 2.9,
# Debian bookworm's, cannot add a republish to an existing stream). Debian's trixie suite has 2.10.27:
# its package is downloaded through an apt configuration of its own and unpacked with dpkg -x into a
# cache folder — nothing is installed into the system. Exits non-zero when it cannot be had.
set -euo pipefail
cache="${DAISI_WS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/daisi-ws}/nats-server-2.10"
bin="$cache/usr/sbin/nats-server"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
side="$cache/apt"
mkdir -p "$side/lists/partial" "$side/cache/archives/partial" "$side/dl"
# The machine's own Debian archive (the first URI of its apt sources), with the trixie suite.
mirror=$(grep -hoE '^(URIs:|deb) +[^ ]+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
  | awk '{print $2}' | grep -v security | head -n1 || true)
[ -n "$mirror" ] || { echo "no Debian archive in the apt sources" >&2; exit 1; }
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" > "$side/sources.list"
opts=(-o "Dir::Etc::sourcelist=$side/sources.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$side/lists"
  -o "Dir::Cache=$side/cache" -o "Dir::State::status=/dev/null" -o "APT::Sandbox::User=root")
apt-get "${opts[@]}" update -qq >&2
(cd "$side/dl" && apt-get "${opts[@]}" download nats-server >&2)
dpkg -x "$side"/dl/nats-server_*.deb "$cache"
rm -rf "$side"
"$bin" --version >&2
echo "$bin"
