#!/usr/bin/env bash
# Makes sure the services the tests talk to answer on loopback: Redis on 127.0.0.1:6379 and NATS
# with JetStream on 127.0.0.1:4222 (and that the nats-server binary exists: tests start their own
# NATS servers on other ports). Installs them from Debian's packages when missing (root only).
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
apt_updated=""
install() {
  if [ "$(id -u)" != 0 ]; then echo "ensure-services: $1 is missing; install it (apt-get install $1)" >&2; exit 1; fi
  [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}

have redis-server || install redis-server
have nats-server || install nats-server
# Debian's Chromium for the end-to-end test of the demo page (never a downloaded browser build).
[ -x /usr/bin/chromium ] || [ "$(id -u)" != 0 ] || install chromium

if ! port_open 6379; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
if ! port_open 4222; then
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
fi
for _ in $(seq 1 50); do
  if port_open 6379 && port_open 4222; then echo "ensure-services: redis and nats answer"; exit 0; fi
  sleep 0.2
done
echo "ensure-services: redis (6379) or nats (4222) does not answer" >&2
exit 1
