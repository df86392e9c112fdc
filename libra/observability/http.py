"""The daemon's HTTP server (aiohttp): metrics, health, status and the control API.

Read endpoints (no token): ``GET /metrics``, ``GET /healthz`` (the process answers),
``GET /readyz`` (200 when running, reconciled, every gateway connected with fresh
data; else 503 with the reasons), ``GET /api/status``.

Control endpoints need ``Authorization: Bearer <http.token>`` (401 without it or
with a wrong one; 403 when no token is configured, which disables them):
``POST /api/control/{halt,reduce,resume,cancel-all,flatten}`` and
``POST /api/strategies/{id}/{stop,start,resume}``. Every control request is logged
(``control.applied`` / ``control.refused``) with the client's address.

``GET /`` is the live status page and ``GET /api/stream`` its server-sent events
(``libra.observability.live``: at most a few streams at once, one render per second
shared by all).

The server is small on purpose, because it may face clients that are not friendly:
an unknown action is answered 404 before anything is counted, so metric labels come
from a fixed set and no request can add a series; a client has ``http.read_timeout``
seconds to send its headers (aiohttp's keep-alive timer, armed from the first byte),
and a body may not exceed ``MAX_BODY_BYTES`` (no endpoint reads one). A non-loopback
address without ``http.token`` is refused by the config itself.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import structlog
from aiohttp import web

from libra.core.redaction import scrub
from libra.kernel.control import TRADING_ACTIONS, KernelControl
from libra.observability.live import LiveFeed
from libra.observability.metrics import CONTENT_TYPE, OpsMetrics


class OpsEndpoints(Protocol):
    """What the HTTP server serves: ``OpsService`` (kept as a Protocol so the service can
    build the server without the two modules importing each other)."""

    kernel: KernelControl
    metrics: OpsMetrics
    cache_ttl: float

    def readiness(self) -> list[str]: ...

    def streams(self) -> Mapping[str, Any]: ...

    def status(self) -> dict[str, Any]: ...

    def set_trading_state(self, action: str) -> dict[str, Any]: ...

    async def cancel_all(self) -> dict[str, Any]: ...

    async def flatten(self) -> dict[str, Any]: ...

    def resume_strategy(self, strategy_id: str) -> dict[str, Any]: ...

    async def stop_strategy(self, strategy_id: str) -> dict[str, Any]: ...

    async def start_strategy(self, strategy_id: str) -> dict[str, Any]: ...


_log = structlog.get_logger("libra.http")
CONTROL_ACTIONS = (*TRADING_ACTIONS, "cancel-all", "flatten")
STRATEGY_ACTIONS = ("stop", "start", "resume")
MAX_BODY_BYTES = 16 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(data: Any, status: int = 200) -> web.Response:
    """Return a JSON response, scrubbed; Decimals and other values become strings."""
    return web.Response(text=scrub(json.dumps(data, default=str)), status=status,
                        content_type="application/json")


def _scrubbed(render: Callable[[], bytes]) -> Callable[[], bytes]:
    return lambda: scrub(render().decode()).encode()


class OpsHttpServer:
    """Serve an ``OpsService`` over HTTP on ``http.host``:``http.port`` (0: any free port)."""

    def __init__(self, ops: OpsEndpoints) -> None:
        self.ops = ops
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.host = ops.kernel.config.http.host
        # Rendered /metrics and /api/status bodies, reused for ``ops.cache_ttl`` seconds so a
        # burst of requests cannot take the event loop from the kernel (a render is ~0.5 ms).
        self._cache: dict[str, tuple[float, bytes]] = {}
        self.live = LiveFeed(ops)

    def build_app(self) -> web.Application:
        """Return the aiohttp application with every route."""
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/api/status", self._status)
        app.router.add_post("/api/control/{action}", self._guard(self._control))
        app.router.add_post("/api/strategies/{strategy_id}/{action}", self._guard(self._strategy))
        self.live.add_routes(app)
        return app

    async def start(self) -> None:
        """Bind and start serving; ``port`` is then the bound port."""
        http = self.ops.kernel.config.http
        runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False,
                               keepalive_timeout=http.read_timeout)
        await runner.setup()
        try:
            self.live.start()
            site = web.TCPSite(runner, http.host, http.port, shutdown_timeout=1.0)
            await site.start()
        except BaseException:
            await self.live.stop()
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        _log.info("http.started", host=http.host, port=self.port,
                  control="enabled" if self._token() else "disabled (no http.token)")

    async def stop(self) -> None:
        """Stop serving; idempotent."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await self.live.stop()  # ends open status streams: they must not hold up the stop
            await runner.cleanup()
            _log.info("http.stopped", port=self.port)

    # -- read endpoints ---------------------------------------------------------------------

    def _cached(self, key: str, render: Callable[[], bytes]) -> bytes:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.ops.cache_ttl:
            return hit[1]
        body = render()
        self._cache[key] = (now, body)
        return body

    async def _metrics(self, request: web.Request) -> web.Response:
        body = self._cached("metrics", _scrubbed(self.ops.metrics.render))
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def _healthz(self, request: web.Request) -> web.Response:
        return json_response({"status": "alive", "kernel": self.ops.kernel.state})

    async def _readyz(self, request: web.Request) -> web.Response:
        reasons = self.ops.readiness()
        if reasons:
            return json_response({"ready": False, "reasons": reasons}, status=503)
        return json_response({"ready": True, "reasons": []})

    async def _status(self, request: web.Request) -> web.Response:
        body = self._cached(
            "status", _scrubbed(lambda: json.dumps(self.ops.status(), default=str).encode()))
        return web.Response(body=body, content_type="application/json")

    # -- control ----------------------------------------------------------------------------

    def _token(self) -> str | None:
        token = self.ops.kernel.config.http.token  # read per request: a reload may rotate it
        secret = token.get_secret_value() if token is not None else ""
        return secret or None

    def _guard(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if _label(request) is None:  # before any metric label exists for it
                return _unknown_action(request)
            refusal = self._refusal(request)
            if refusal is not None:
                return refusal
            return await handler(request)

        return guarded

    def _refusal(self, request: web.Request) -> web.Response | None:
        token = self._token()
        action = _label(request) or "unknown"
        if token is None:
            self._refused(request, action, 403, "control API disabled: no http.token configured")
            return json_response({"error": "control API disabled: no http.token configured"}, 403)
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), token.encode()):
            why = "missing bearer token" if not header else "wrong bearer token"
            self._refused(request, action, 401, why)
            response = json_response({"error": why}, 401)
            response.headers["WWW-Authenticate"] = 'Bearer realm="libra"'
            return response
        return None

    def _refused(self, request: web.Request, action: str, status: int, why: str) -> None:
        self.ops.metrics.control_actions.labels(action, "refused").inc()
        _log.warning("control.refused", action=action, status=status, reason=why,
                     path=request.path, remote=request.remote)

    async def _control(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        ops = self.ops
        if action in TRADING_ACTIONS:
            result = ops.set_trading_state(action)
        elif action == "cancel-all":
            result = await ops.cancel_all()
        elif action == "flatten":
            result = await ops.flatten()
        else:
            return _unknown_action(request)
        return self._applied(request, action, result)

    async def _strategy(self, request: web.Request) -> web.Response:
        strategy_id = request.match_info["strategy_id"]
        action = request.match_info["action"]
        if action not in STRATEGY_ACTIONS:
            return _unknown_action(request)
        if strategy_id not in self.ops.kernel.runners:
            return json_response({"error": f"no strategy {strategy_id!r}; configured: "
                                           f"{sorted(self.ops.kernel.runners)}"}, 404)
        if action == "stop":
            result = await self.ops.stop_strategy(strategy_id)
        elif action == "resume":
            result = self.ops.resume_strategy(strategy_id)
        else:
            result = await self.ops.start_strategy(strategy_id)
        return self._applied(request, f"{action}-strategy", result)

    def _applied(self, request: web.Request, action: str, result: dict[str, Any]
                 ) -> web.Response:
        # Not ok: the venue did not confirm all of it (a close denied, a cancel unanswered).
        # Then the answer is 409 (`libra ctl` exits non-zero), the metric says "incomplete"
        # and the line is an error: nothing reads it as a success.
        ok = bool(result.get("ok", True))
        self.ops.metrics.control_actions.labels(action, "applied" if ok else "incomplete").inc()
        self._cache.clear()  # the next status read shows the action's effect
        log = _log.warning if ok else _log.error
        log("control.applied" if ok else "control.incomplete", action=action,
            remote=request.remote, **result)
        return json_response({"action": action, "ok": ok, **result}, 200 if ok else 409)


def _label(request: web.Request) -> str | None:
    """Return the metric label of a control request's action; None for an unknown action."""
    action = request.match_info.get("action", "")
    if "strategy_id" in request.match_info:
        return f"{action}-strategy" if action in STRATEGY_ACTIONS else None
    return action if action in CONTROL_ACTIONS else None


def _unknown_action(request: web.Request) -> web.Response:
    expected = STRATEGY_ACTIONS if "strategy_id" in request.match_info else CONTROL_ACTIONS
    # The refused name is not echoed back: it is whatever the client sent.
    return json_response({"error": f"unknown action; expected one of {list(expected)}"}, 404)
