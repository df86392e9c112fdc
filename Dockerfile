# LIBRA trading daemon. Build: docker build -t libra .
# Run:   docker run --rm -p 127.0.0.1:8080:8080 -e LIBRA_HTTP_TOKEN=... libra
# Config: mount a file at /etc/libra/libra.toml; state lives in /var/lib/libra.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LIBRA_URL=http://127.0.0.1:8080

# A fixed uid/gid so volume ownership is predictable on the host.
RUN groupadd --system --gid 10001 libra \
    && useradd --system --uid 10001 --gid libra --home-dir /var/lib/libra \
       --shell /usr/sbin/nologin libra \
    && mkdir -p /etc/libra /var/lib/libra \
    && chown libra:libra /var/lib/libra

WORKDIR /opt/libra
COPY pyproject.toml README.md ./
COPY libra ./libra
RUN pip install . && rm -rf /opt/libra/build

COPY deploy/docker/libra.toml /etc/libra/libra.toml

VOLUME ["/etc/libra", "/var/lib/libra"]
USER libra:libra
WORKDIR /var/lib/libra
EXPOSE 8080
STOPSIGNAL SIGTERM

# Asks the running daemon (GET /healthz on $LIBRA_URL); exit 0 healthy, 1 not.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["libra", "ctl", "--timeout", "4", "health"]

ENTRYPOINT ["libra"]
CMD ["run", "--config", "/etc/libra/libra.toml"]
