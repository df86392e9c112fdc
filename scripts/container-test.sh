#!/usr/bin/env bash
# Build the Docker image from a local Debian base and check it the way an operator would:
# JSON logs reach kernel.started, the image's HEALTHCHECK reports healthy, /api/status answers
# on a port published on 127.0.0.1, the daemon runs as a non-root uid on a read-only root file
# system, a stop ends it with exit 0 inside the compose file's grace period, and a new
# container on the same state volume restores the position and resumes the replay, with no
# network at all.
#
# Needs root, podman, runc and debootstrap (installed with apt-get when missing). The Debian
# base is cached as a podman image ($LIBRA_CONTAINER_BASE) and rebuilt when older than 14 days
# or when LIBRA_CONTAINER_REFRESH_BASE=1. Without podman the test is skipped (exit 0) unless
# LIBRA_REQUIRE_CONTAINER_TEST=1, as in CI, where that is a failure.
#
# Everything it creates (containers, the state volume, the image and its layers) is removed
# on exit, unless LIBRA_CONTAINER_KEEP=1. Two images stay as caches for the next run: the
# Debian base and the builder stage ($BUILD_CACHE, the dependency install).
set -euo pipefail
cd "$(dirname "$0")/.."

REQUIRE=${LIBRA_REQUIRE_CONTAINER_TEST:-0}
BASE=${LIBRA_CONTAINER_BASE:-localhost/libra-base:debian-bookworm}
MIRROR=${LIBRA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_MAX_AGE_DAYS=14
# Plain runc and cgroupfs work both on a systemd host and in a container without systemd,
# where crun and the systemd cgroup manager fail.
read -r -a PODMAN_FLAGS <<<"${LIBRA_PODMAN_FLAGS:---runtime runc --cgroup-manager=cgroupfs}"
ULIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

RUN_ID="libra-ct-$$"
# Every image layer a run commits carries this label, so the cleanup removes exactly those.
LABEL=libra.container-test=1
# The builder stage (the hash-checked dependency install), kept between runs as a cache.
BUILD_CACHE=localhost/libra-container-test:builder-cache
IMAGE="localhost/$RUN_ID:latest"
VOLUME="$RUN_ID-state"
WORK=$(mktemp -d)
TOKEN="container-test-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
# A fast replay and a quick sma_cross, so the first container trades within seconds.
FAST=(-e LIBRA__GATEWAYS__0__DATA__SPEED=6000
      -e LIBRA__STRATEGIES__0__PARAMS__FAST=2
      -e LIBRA__STRATEGIES__0__PARAMS__SLOW=4
      -e LIBRA__STRATEGIES__0__PARAMS__QUANTITY=0.01)
# What deploy/docker-compose.yml sets for the service.
HARDENED=(--read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges)
CURRENT=""          # the container whose logs a failure prints
CONTAINERS=()
SECRET=()           # podman build --secret options

say() { printf 'container test: %s\n' "$*" >&2; }
pm() { podman "${PODMAN_FLAGS[@]}" "$@"; }

fail() {
    if [ -n "$CURRENT" ]; then
        say "logs of $CURRENT (last 40 lines):"
        pm logs "$CURRENT" 2>&1 | tail -n 40 | cut -c 1-400 >&2 || true
    fi
    say "FAILED: $*"
    exit 1
}

cleanup() {
    local name
    if [ "${LIBRA_CONTAINER_KEEP:-0}" = 1 ]; then
        say "kept for inspection: ${CONTAINERS[*]}, volume $VOLUME, image $IMAGE"
        return
    fi
    for name in "${CONTAINERS[@]}"; do
        pm rm --force --time 0 "$name" >/dev/null 2>&1 || true
    done
    pm volume rm --force "$VOLUME" >/dev/null 2>&1 || true
    pm rmi --force "$IMAGE" >/dev/null 2>&1 || true
    # Untagged layers of this run (and of earlier ones); the builder cache is tagged and stays.
    pm image prune --force --filter "label=$LABEL" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

skip() {
    say "$*"
    if [ "$REQUIRE" = 1 ]; then
        say "FAILED: LIBRA_REQUIRE_CONTAINER_TEST=1, so a missing container engine is an error"
        exit 1
    fi
    say "skipped (set LIBRA_REQUIRE_CONTAINER_TEST=1 to make this an error)"
    exit 0
}

ensure_tools() {
    local missing=() tool
    for tool in podman runc debootstrap; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        skip "cannot install ${missing[*]} (needs root and apt-get)"
    fi
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! timeout 600 sh -c 'apt-get update -qq && apt-get install -y -qq \
            --no-install-recommends podman runc debootstrap' >"$WORK/apt.log" 2>&1; then
        tail -n 20 "$WORK/apt.log" >&2
        skip "apt-get could not install ${missing[*]}"
    fi
}

base_is_fresh() {
    local created age
    [ "${LIBRA_CONTAINER_REFRESH_BASE:-0}" = 1 ] && return 1
    created=$(pm image inspect --format '{{.Created.Unix}}' "$BASE" 2>/dev/null) || return 1
    age=$(( ($(date +%s) - created) / 86400 ))
    [ "$age" -lt "$BASE_MAX_AGE_DAYS" ]
}

# A minimal Debian bookworm root file system as a podman image: what `FROM debian:bookworm`
# would give on a host that can pull it, trimmed the same way (no docs, no apt caches).
build_base() {
    local root="$WORK/rootfs"
    say "building the Debian base $BASE with debootstrap"
    if ! timeout 600 debootstrap --variant=minbase bookworm "$root" "$MIRROR" \
            >"$WORK/debootstrap.log" 2>&1; then
        tail -n 20 "$WORK/debootstrap.log" >&2
        fail "debootstrap bookworm from $MIRROR failed"
    fi
    cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${MIRROR%/debian}/debian-security bookworm-security main
EOF
    cat >"$root/etc/dpkg/dpkg.cfg.d/excludes" <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
EOF
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
        >"$root/etc/apt/apt.conf.d/90no-recommends"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
        "$root"/var/lib/apt/lists/* "$root"/usr/share/man/* "$root"/usr/share/locale/* \
        "$root"/var/log/*.log
    find "$root/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
    tar -C "$root" -c . | pm import --message "debootstrap minbase bookworm" - "$BASE" \
        >/dev/null || fail "podman import of the Debian base failed"
    rm -rf "$root"
}

build_stage() {
    timeout 900 podman "${PODMAN_FLAGS[@]}" build --format docker --label "$LABEL" \
        "${ULIMITS[@]}" "${SECRET[@]}" --build-arg "BASE_IMAGE=$BASE" "$@" .
}

build_image() {
    local started ca=${LIBRA_BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
    # The host's CA bundle lets pip in the build trust a TLS-inspecting proxy; it is
    # mounted for the install step only and is not in the image.
    if [ -s "$ca" ]; then SECRET=(--secret "id=ca-certificates,src=$ca"); fi
    say "building $IMAGE from $BASE"
    started=$(date +%s)
    # A hung download must not hold CI: the cold build takes about 3 minutes. The builder
    # stage is built and tagged first, so its layers survive the cleanup as a cache.
    if ! { build_stage --target builder --tag "$BUILD_CACHE" && build_stage --tag "$IMAGE"; } \
            >"$WORK/build.log" 2>&1; then
        tail -n 40 "$WORK/build.log" >&2
        fail "podman build failed"
    fi
    say "build time: $(( $(date +%s) - started )) s"
    say "image size: $(pm image inspect --format '{{.Size}}' "$IMAGE" \
        | awk '{printf "%.0f MB", $1 / 1000000}')"
}

# Start a container on the state volume; extra podman options first.
start() {
    local name="$RUN_ID-$1"
    shift
    CONTAINERS+=("$name")
    CURRENT="$name"
    if ! pm run --detach --name "$name" "${ULIMITS[@]}" "${HARDENED[@]}" \
            --volume "$VOLUME:/var/lib/libra" --env "LIBRA_HTTP_TOKEN=$TOKEN" "$@" "$IMAGE" \
            >/dev/null 2>"$WORK/run.log"; then
        cat "$WORK/run.log" >&2
        fail "podman run $name failed"
    fi
}

# Print the container's log records of one event, one JSON object a line. Fails when a line
# of its output is not a JSON object: the logs are meant for jq and log shippers.
records() {
    pm logs "$CURRENT" 2>&1 | python3 -c '
import json, sys
for number, line in enumerate(sys.stdin, 1):
    try:
        record = json.loads(line)
        assert isinstance(record, dict)
    except (ValueError, AssertionError):
        sys.exit(f"log line {number} is not a JSON object: {line.strip()[:200]!r}")
    if record.get("event") == sys.argv[1]:
        print(json.dumps(record))
' "$1"
}

# Wait until the container has logged EVENT at least COUNT times; fail if it exits first.
wait_for() {
    local event=$1 count=${2:-1} timeout=${3:-60} deadline found
    deadline=$(( $(date +%s) + timeout ))
    while :; do
        found=$(records "$event" | wc -l) || fail "the logs are not JSON lines"
        [ "$found" -ge "$count" ] && return 0
        if [ "$(pm inspect --format '{{.State.Running}}' "$CURRENT")" != true ]; then
            fail "$CURRENT exited ($(pm inspect --format '{{.State.ExitCode}}' "$CURRENT")) \
before logging $event"
        fi
        [ "$(date +%s)" -ge "$deadline" ] && fail "no $event within $timeout s"
        sleep 0.1
    done
}

field() { python3 -c 'import json, sys; print(json.loads(sys.stdin.readline())[sys.argv[1]])' "$1"; }

# The positions of a status or kernel.stopped record (read from stdin) without the parts
# that move with the market price, as one sorted JSON line.
positions() {
    python3 -c '
import json, sys
positions = json.load(sys.stdin)["positions"]
keep = ("quantity", "avg_entry_price", "realized_pnl", "fees")
print(json.dumps({key: {k: p[k] for k in keep} for key, p in positions.items()},
                 sort_keys=True))'
}

check_healthy() {
    pm healthcheck run "$CURRENT" >/dev/null 2>&1 || fail "the HEALTHCHECK did not pass"
    local status
    status=$(pm inspect --format '{{.State.Health.Status}}' "$CURRENT" 2>/dev/null)
    [ "$status" = healthy ] || fail "health status is '$status', not healthy"
}

check_non_root_read_only() {
    local pid uid
    pid=$(pm inspect --format '{{.State.Pid}}' "$CURRENT")
    uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
    if [ -z "$uid" ] || [ "$uid" = 0 ]; then fail "the daemon runs as uid '$uid'"; fi
    [ "$(pm inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$CURRENT")" = true ] \
        || fail "the root file system is writable"
    say "daemon uid: $uid, read-only root file system"
}

check_status_on_port() {
    local port=$1 state
    state=$(python3 -c '
import json, sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/status", timeout=5) as answer:
    print(json.load(answer)["state"])
' "$port") || fail "GET /api/status on 127.0.0.1:$port did not answer"
    [ "$state" = running ] || fail "/api/status says state '$state'"
}

# `podman stop` within the compose file's stop_grace_period: exit 0 and kernel.stopped.
stop_cleanly() {
    local started elapsed code
    started=$(date +%s.%N)
    pm stop --time "$GRACE" "$CURRENT" >/dev/null 2>&1 || fail "podman stop failed"
    elapsed=$(python3 -c 'import sys, time; print(f"{time.time() - float(sys.argv[1]):.1f}")' \
        "$started")
    code=$(pm inspect --format '{{.State.ExitCode}}' "$CURRENT")
    [ "$code" = 0 ] || fail "exit code $code after SIGTERM (stop took $elapsed s)"
    python3 -c 'import sys; sys.exit(float(sys.argv[1]) >= float(sys.argv[2]))' \
        "$elapsed" "$GRACE" || fail "the stop took $elapsed s, the grace period is $GRACE s"
    wait_for kernel.stopped 1 1
    say "stop: exit 0 in $elapsed s"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

main() {
    ensure_tools
    pm info >/dev/null 2>&1 || skip "podman cannot run here: $(pm info 2>&1 | tail -n 1)"
    GRACE=$(sed -n 's/^ *stop_grace_period: *\([0-9]*\)s.*/\1/p' deploy/docker-compose.yml)
    [ -n "$GRACE" ] || fail "no stop_grace_period in seconds in deploy/docker-compose.yml"
    if base_is_fresh; then say "using the cached base $BASE"; else build_base; fi
    build_image
    pm volume create "$VOLUME" >/dev/null

    # 1. As deploy/docker-compose.yml runs it: port on 127.0.0.1, read-only, no capabilities.
    local port started stopped restored skipped
    port=$(free_port)
    started=$(date +%s.%N)
    start first --publish "127.0.0.1:$port:8080" "${FAST[@]}"
    wait_for kernel.started 1 60
    say "start to kernel.started: $(python3 -c \
        'import sys, time; print(f"{time.time() - float(sys.argv[1]):.1f}")' "$started") s"
    check_non_root_read_only
    check_healthy
    check_status_on_port "$port"
    wait_for order.filled 2 60
    stop_cleanly
    stopped=$(records kernel.stopped | head -n 1 | positions)
    [ "$stopped" != "{}" ] || fail "kernel.stopped lists no position after the fills"
    say "first container: $(records order.filled | wc -l) fills; at stop: $stopped"

    # 2. A new container on the same volume, with no network at all: it must hold the same
    # position and carry on with the replay where the first one stopped. It runs the bundled
    # config as it is (one bar a second; sma_cross needs 30 bars before its first signal)
    # and starts halted, so nothing trades before the check.
    start second --network none --env LIBRA__RISK__TRADING_STATE=halted
    wait_for kernel.started 1 60
    pm exec "$CURRENT" libra ctl status --json >"$WORK/status.json" 2>"$WORK/exec.log" \
        || { cat "$WORK/exec.log" >&2; fail "libra ctl status inside the container failed"; }
    restored=$(positions <"$WORK/status.json")
    [ "$restored" = "$stopped" ] \
        || fail "positions after the restart: $restored; at the stop: $stopped"
    wait_for replay.resumed 1 20
    skipped=$(records replay.resumed | head -n 1 | field skipped)
    [ "$skipped" -gt 0 ] || fail "replay.resumed skipped $skipped events"
    check_healthy
    stop_cleanly
    say "second container: same positions, replay resumed after $skipped events"
    say "passed in $SECONDS s"
}

main "$@"
