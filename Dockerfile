# LIBRA trading daemon.
#
# On a Docker host (pulls the pinned Python base below; needs BuildKit, Docker's default
# builder since 23.0, for the RUN --mount below):
#   docker build -t libra .
#   docker compose -f deploy/docker-compose.yml up -d      # see docs/operations.md
# Offline, from a local Debian base (what scripts/container-test.sh does):
#   debootstrap --variant=minbase bookworm rootfs
#   tar -C rootfs -c . | podman import - localhost/debian-bookworm
#   podman build --format docker --build-arg BASE_IMAGE=localhost/debian-bookworm -t libra .
# Either base works: one without Python gets Debian's python3 (3.11 on bookworm).
#
# The image runs as uid 10001 with a read-only root file system: state goes to a volume at
# /var/lib/libra, temporary files to a tmpfs at /tmp. There is no VOLUME instruction, on
# purpose: Docker would create an anonymous volume at every `docker run` and orphan it; the
# operator names the state volume (deploy/docker-compose.yml does).

# python:3.11.14-slim-bookworm, pinned by the digest of its multi-architecture index.
ARG BASE_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

# What both stages share: a Python 3.11 interpreter and the service user. The venv built
# below points at this interpreter, so the runtime stage must start from the same stage.
FROM ${BASE_IMAGE} AS python
RUN set -eu; \
    if ! command -v python3 >/dev/null 2>&1; then \
        apt-get update; \
        apt-get install -y --no-install-recommends python3 ca-certificates; \
        apt-get clean; \
        rm -rf /var/lib/apt/lists/*; \
    fi; \
    python3 -c 'import sys; assert sys.version_info >= (3, 11), sys.version'; \
    groupadd --system --gid 10001 libra; \
    useradd --system --uid 10001 --gid libra --home-dir /var/lib/libra \
        --shell /usr/sbin/nologin libra; \
    mkdir -p /etc/libra /var/lib/libra; \
    chown libra:libra /var/lib/libra; \
    chmod 0700 /var/lib/libra

# Builds LIBRA's wheel and a virtualenv with the exact, hash-checked dependency set of
# requirements/constraints.txt (`make constraints` refreshes it). Nothing of this stage but
# the venv reaches the image: no pip, no build backend, no apt lists.
FROM python AS builder
# constraints-extras.txt adds the daemon's optional extras: notifications (apprise) and
# fleets over NATS (nats-py). --build-arg LIBRA_LOCK=constraints-extras.txt selects it.
ARG LIBRA_LOCK=constraints.txt
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
# binutils for `strip`; python3-venv only where the base has no ensurepip (plain Debian).
RUN set -eu; \
    venv=""; \
    python3 -c 'import ensurepip' >/dev/null 2>&1 || venv=python3-venv; \
    apt-get update; \
    apt-get install -y --no-install-recommends binutils $venv; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the pins change, not with the code.
# Behind a TLS-inspecting proxy, pass its CA bundle for this step only (it is not kept):
#   --secret id=ca-certificates,src=/etc/ssl/certs/ca-certificates.crt
COPY requirements/constraints.txt requirements/constraints-extras.txt requirements/build.txt \
    requirements/
RUN --mount=type=secret,id=ca-certificates \
    set -eu; \
    if [ -s /run/secrets/ca-certificates ]; then export PIP_CERT=/run/secrets/ca-certificates; fi; \
    python3 -m venv /opt/libra/venv; \
    /opt/libra/venv/bin/pip install --require-hashes -r "requirements/$LIBRA_LOCK"; \
    python3 -m venv /opt/build; \
    /opt/build/bin/pip install --require-hashes -r requirements/build.txt
COPY pyproject.toml README.md LICENSE ./
COPY libra ./libra
# Then trim what the daemon never loads: the test suites numpy and ccxt ship (~20 MB) and
# the debug symbols of uvloop's extension (13 MB -> 2 MB). Only uvloop is stripped: the
# libraries auditwheel vendored (numpy.libs, ...) were rewritten by patchelf, and `strip`
# makes them unloadable. The import at the end fails the build if trimming broke anything.
RUN set -eu; \
    /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .; \
    /opt/libra/venv/bin/pip install --no-deps /wheels/libra_trader-*.whl; \
    /opt/libra/venv/bin/pip uninstall --yes pip setuptools; \
    site=$(/opt/libra/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))'); \
    rm -rf "$site/ccxt/test"; \
    find "$site/numpy" -depth -type d -name tests -exec rm -rf {} +; \
    strip --strip-debug "$site"/uvloop/*.so; \
    cd /; \
    /opt/libra/venv/bin/python -c 'import numpy, uvloop, ccxt.pro, libra.cli, libra.gateways.ccxt'; \
    /opt/libra/venv/bin/libra --help >/dev/null

FROM python AS runtime
COPY --from=builder /opt/libra/venv /opt/libra/venv
COPY deploy/docker/libra.toml /etc/libra/libra.toml
# Bytecode was compiled at install; the root file system is read-only at run time.
ENV PATH=/opt/libra/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LIBRA_URL=http://127.0.0.1:8080
USER 10001:10001
WORKDIR /var/lib/libra
EXPOSE 8080
STOPSIGNAL SIGTERM

# "Alive": the process answers GET /healthz on $LIBRA_URL (exit 0, else 1). It stays healthy
# while a venue is down, so Docker does not restart a daemon that is waiting for one. An
# orchestrator with a readiness probe (Kubernetes) should probe GET /readyz for "can trade".
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["libra", "ctl", "--timeout", "4", "health"]

ENTRYPOINT ["libra"]
CMD ["run", "--config", "/etc/libra/libra.toml"]
