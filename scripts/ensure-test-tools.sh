#!/bin/sh
# Install the Debian tools some tests use, when they are missing:
#   chromium          renders the HTML backtest report in a real headless browser
#   systemd-analyze   verifies deploy/systemd/libra.service (package: systemd)
#   nats-server       the fleet tests' JetStream server (Debian installs it in /usr/sbin)
# Best effort: it installs only as root with apt-get, and it always exits 0.
# The tests that need a tool skip with a reason when it still cannot be found.

missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v systemd-analyze >/dev/null 2>&1 || missing="$missing systemd"
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing="$missing nats-server"
[ -z "$missing" ] && exit 0
if [ "$(id -u 2>/dev/null)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "test tools not installed (need root and apt-get):$missing" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
echo "installing test tools:$missing" >&2
timeout 600 sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing" \
    >/dev/null 2>&1 || echo "could not install:$missing (the tests that need them skip)" >&2
exit 0
