"""``libra ctl``: talk to a running daemon's HTTP API.

The control token is never taken from the command line, where ``ps`` would show it: it
comes from the environment variable ``--token-env`` names, else from ``http.token`` of
``--config`` as the daemon reads it (``${VAR}``), else from ``LIBRA_HTTP_TOKEN``.
The daemon's address: ``--url``, else ``http.host``/``http.port`` of ``--config``,
else ``$LIBRA_URL``, else ``http://127.0.0.1:8080``.

Exit codes: 0 done (2xx), 1 refused or failed (4xx/5xx, not ready, unreachable),
2 usage. ``libra ctl health`` is the Docker ``HEALTHCHECK`` command.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
DEFAULT_URL = "http://127.0.0.1:8080"
TOKEN_ENV = "LIBRA_HTTP_TOKEN"

#: command -> (method, path, needs a token)
COMMANDS: dict[str, tuple[str, str, bool]] = {
    "status": ("GET", "/api/status", False),
    "health": ("GET", "/healthz", False),
    "ready": ("GET", "/readyz", False),
    "halt": ("POST", "/api/control/halt", True),
    "reduce": ("POST", "/api/control/reduce", True),
    "resume": ("POST", "/api/control/resume", True),
    "cancel-all": ("POST", "/api/control/cancel-all", True),
    "flatten": ("POST", "/api/control/flatten", True),
    "stop-strategy": ("POST", "/api/strategies/{id}/stop", True),
    "start-strategy": ("POST", "/api/strategies/{id}/start", True),
    "resume-strategy": ("POST", "/api/strategies/{id}/resume", True),
}
DESCRIPTION = f"""\
Query and control a running daemon over its HTTP API.

The control token is never taken from the command line, where ps would show it:
it comes from the variable --token-env names, else from http.token of --config as the
daemon reads it (e.g. ${{VAR}}), else from {TOKEN_ENV}.
The daemon's address: --url, else http.host and http.port of --config,
else $LIBRA_URL, else {DEFAULT_URL}.

Exit codes: 0 done, 1 refused or failed (HTTP 4xx/5xx, not ready, unreachable),
2 usage. "libra ctl health" is the Docker HEALTHCHECK command."""
_HELP = {
    "status": "print a summary of the kernel, gateways, strategies, orders, positions and "
              "PnL (--json: the full status)",
    "health": "exit 0 if the daemon answers (Docker HEALTHCHECK)",
    "ready": "exit 0 if the daemon is ready to trade; print the reasons if not",
    "halt": "deny every new order (risk state HALTED)",
    "reduce": "allow only position-reducing orders (risk state REDUCING)",
    "resume": "allow trading again (risk state ACTIVE)",
    "cancel-all": "cancel every open order; report what the venue confirmed",
    "flatten": "cancel every open order, close every position at market (reduce-only, in "
               "clips the per-order limits allow); report what filled",
    "stop-strategy": "stop one strategy (its shutdown() runs); the others go on",
    "start-strategy": "start a stopped or failed strategy again",
    "resume-strategy": "let a strategy the denial breaker paused place orders again",
}


def register(subparsers: Any) -> None:
    """Add ``libra ctl`` to the ``libra`` command's subcommands."""
    ctl = subparsers.add_parser("ctl", help="query and control a running daemon over HTTP",
                                description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    ctl.add_argument("--url", default=None,
                     help="daemon URL (default: from --config, else $LIBRA_URL, else "
                          f"{DEFAULT_URL})")
    ctl.add_argument("--config", "-c", default=None, metavar="FILE",
                     help="take the URL and the token from this config file's [http] section "
                          "(the token as the daemon reads it, e.g. from ${VAR})")
    ctl.add_argument("--token-env", default=None, metavar="NAME",
                     help="environment variable holding the token (default: the one "
                          f"http.token of --config reads, else {TOKEN_ENV})")
    ctl.add_argument("--timeout", type=float, default=5.0, help="seconds (default: 5)")
    actions = ctl.add_subparsers(dest="ctl_command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        action = actions.add_parser(name, help=_HELP[name])
        if "{id}" in COMMANDS[name][1]:
            action.add_argument("strategy_id", metavar="ID", help="the strategy's id")
        if name == "status":
            action.add_argument("--json", action="store_true",
                                help="print the full status object as JSON")
    ctl.set_defaults(func=cmd_ctl)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``libra ctl`` alone (for tests and scripts); return the exit code."""
    parser = argparse.ArgumentParser(prog="libra")
    register(parser.add_subparsers(dest="command", required=True))
    try:
        args = parser.parse_args(["ctl", *(argv or [])])
    except SystemExit as exc:
        return int(exc.code or 0)
    return cmd_ctl(args)


def resolve_url(args: argparse.Namespace) -> str:
    """Return the daemon's base URL from ``--url``, ``--config``, ``$LIBRA_URL`` or the default.

    Raises:
        ConfigError: the config file is invalid.
    """
    if args.url:
        return str(args.url).rstrip("/")
    if args.config:
        from libra.core.config import load_config

        http = load_config(args.config).http
        host = "127.0.0.1" if http.host in ("0.0.0.0", "::", "") else http.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{http.port}"
    return os.environ.get("LIBRA_URL", DEFAULT_URL).rstrip("/")


def resolve_token(args: argparse.Namespace) -> tuple[str, str]:
    """Return the control token and where it was looked for (for the error when empty).

    ``--token-env NAME`` reads that variable. Otherwise, with ``--config``, the token is
    the config's ``http.token`` as the daemon resolves it (``${VAR}`` from this process's
    environment), so the operator names no variable twice. Else ``$LIBRA_HTTP_TOKEN``.

    Raises:
        ConfigError: the config file is invalid.
    """
    if args.token_env is None and args.config:
        from libra.core.config import load_config, read_config_file

        token = load_config(args.config).http.token
        raw = read_config_file(Path(args.config)).get("http", {})
        named = _VARIABLE.match(str(raw.get("token", ""))) if isinstance(raw, dict) else None
        where = f"the environment variable {named.group(1)}" if named else "http.token"
        return (token.get_secret_value() if token is not None else "",
                f"{where} (http.token of {args.config})")
    name = args.token_env or TOKEN_ENV
    return os.environ.get(name, ""), f"the environment variable {name}"


#: ``${VAR}`` or ``${VAR:-default}``: the variable a config's token is read from.
_VARIABLE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-.*)?\}$")


def cmd_ctl(args: argparse.Namespace) -> int:
    """Send one request for ``args.ctl_command``; print the answer; return the exit code."""
    from libra.core.errors import ConfigError

    method, path, needs_token = COMMANDS[args.ctl_command]
    if "{id}" in path:
        path = path.replace("{id}", urllib.parse.quote(args.strategy_id, safe=""))
    headers = {"Accept": "application/json"}
    try:
        if needs_token:
            token, source = resolve_token(args)
            if not token:
                print(f"libra ctl: error: {args.ctl_command} needs a token: {source} is not "
                      "set", file=sys.stderr)
                return EXIT_USAGE
            headers["Authorization"] = f"Bearer {token}"
        url = resolve_url(args) + path
    except ConfigError as exc:
        print(f"libra ctl: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not url.startswith(("http://", "https://")):
        print(f"libra ctl: error: the URL must start with http:// or https://, was {url!r}",
              file=sys.stderr)
        return EXIT_USAGE
    status, body = _request(method, url, headers, args.timeout)
    if status is None:
        print(f"libra ctl: error: cannot reach {url}: {body}", file=sys.stderr)
        return EXIT_FAILED
    ok = 200 <= status < 300
    if ok and args.ctl_command == "status" and not args.json:
        print(_summary(body))
    else:
        _print(body, sys.stdout if ok else sys.stderr)
    return EXIT_OK if ok else EXIT_FAILED


def _request(method: str, url: str, headers: dict[str, str], timeout: float
             ) -> tuple[int | None, str]:
    request = urllib.request.Request(url, method=method, headers=headers,
                                     data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, str(reason)


def _summary(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body
    return render_status(data) if isinstance(data, dict) else body


def render_status(data: dict[str, Any], max_positions: int = 8) -> str:
    """Return ``GET /api/status`` as a short summary a person reads (``--json``: all of it)."""
    ready = "ready" if data.get("ready") else f"not ready: {'; '.join(data.get('not_ready', []))}"
    lines = [f"kernel {data.get('name')}: {data.get('state')} ({data.get('environment')}), "
             f"{ready}",
             f"trading: {data.get('trading_state')}"]
    gateways = data.get("gateways", {})
    lines.append("gateways: " + (", ".join(
        f"{gid}: {'connected' if g.get('connected') else 'disconnected'}"
        for gid, g in gateways.items()) or "none"))
    strategies = data.get("strategies", {})
    lines.append("strategies: " + ("; ".join(
        f"{sid}: {s.get('state')}, {s.get('events', 0)} events, {s.get('errors', 0)} errors"
        for sid, s in strategies.items()) or "none"))
    lines.append(f"open orders: {data.get('open_orders', 0)}")
    positions = data.get("positions", {})
    lines.append(f"positions: {len(positions)}")
    rows = [[*key.split(":", 1), str(p.get("quantity")), str(p.get("avg_entry_price")),
             str(p.get("realized_pnl")), str(p.get("unrealized_pnl")), str(p.get("fees")),
             str(p.get("currency", ""))]
            for key, p in list(positions.items())[:max_positions]]
    if rows:
        # Imported here: ``ctl health``, the container's health check, stays light.
        from libra.cli._tables import render_table

        lines.append(render_table(_POSITION_COLUMNS, rows, numeric=_POSITION_COLUMNS[2:7]))
    if len(positions) > max_positions:
        lines.append(f"  ... {len(positions) - max_positions} more (--json shows all)")
    lines.append(f"PnL: {data.get('pnl')} {data.get('pnl_currency', '')}".rstrip())
    return "\n".join(lines)


_POSITION_COLUMNS = ("strategy", "symbol", "quantity", "entry price", "realized PnL",
                     "unrealized PnL", "fees", "currency")


def _print(body: str, stream: Any) -> None:
    try:
        text = json.dumps(json.loads(body), indent=2, sort_keys=True)
    except ValueError:
        text = body
    print(text, file=stream)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
