"""``libra fleet``: see every daemon of a fleet and command them at once, over NATS.

Reads ``[fleet]`` (servers, name, credentials) and ``http.token`` (which signs the
commands) from ``--config``: the same file as a daemon of the fleet, or one with only
those sections. ``status`` lists the daemons that sent a heartbeat within
``--stale-after`` seconds and the fleet's exposure per symbol; ``halt``, ``reduce``,
``resume``, ``flatten`` and ``cancel-all`` go to every daemon heard from (or to
``--kernel NAME``) and print each one's answer.

Exit codes: 0 done; 1 NATS unreachable, a daemon refused or did not finish, or an
expected daemon did not answer within ``--timeout``; 2 invalid config or usage.
"""

from __future__ import annotations

import argparse
import json
from decimal import Decimal
from typing import Any

from libra.cli._runtime import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, fail, load, run_async

DESCRIPTION = """\
See every daemon of a fleet and command them at once, over NATS JetStream.

The [fleet] section (servers, name, credentials) and http.token, which signs
commands, come from --config. Exit codes: 0 done; 1 NATS unreachable, a daemon
refused or did not finish, or an expected daemon did not answer in time;
2 invalid config or usage."""
_COMMANDS = {
    "halt": "deny every new order on every daemon (risk state HALTED)",
    "reduce": "allow only position-reducing orders on every daemon",
    "resume": "allow trading again on every daemon",
    "flatten": "cancel every open order and close every position on every daemon",
    "cancel-all": "cancel every open order on every daemon",
}


def register(subparsers: Any) -> None:
    """Add ``libra fleet`` to the ``libra`` command's subcommands."""
    fleet = subparsers.add_parser(
        "fleet", help="see and command every daemon of a fleet over NATS",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = fleet.add_subparsers(dest="fleet_command", required=True, metavar="COMMAND")
    status = commands.add_parser("status", help="list the daemons heard from and the fleet's "
                                                "exposure per symbol")
    _common(status)
    status.add_argument("--stale-after", type=float, default=10.0, metavar="SECONDS",
                        help="list daemons whose last heartbeat is at most this old "
                             "(default: 10)")
    status.add_argument("--json", action="store_true", help="print the full fleet object")
    status.set_defaults(func=cmd_fleet_status)
    for name, text in _COMMANDS.items():
        command = commands.add_parser(name, help=text)
        _common(command)
        command.add_argument("--kernel", default=None, metavar="NAME",
                             help="send to this daemon only (default: every daemon)")
        command.add_argument("--stale-after", type=float, default=10.0, metavar="SECONDS",
                             help="expect an answer from every daemon whose last heartbeat "
                                  "is at most this old (default: 10)")
        command.add_argument("--json", action="store_true",
                             help="print every answer as JSON")
        command.set_defaults(func=cmd_fleet_command)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", required=True, metavar="FILE",
                        help="config file with the [fleet] section and http.token")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                        help="seconds to wait for NATS and for the answers (default: 5)")


def _setup(args: argparse.Namespace) -> tuple[Any, str | None] | int:
    from libra.core.errors import ConfigError

    try:
        config = load(args.config)
    except ConfigError as exc:
        return fail(str(exc), EXIT_CONFIG)
    if config.fleet is None:
        return fail(f"{args.config}: field fleet: the section is missing; libra fleet needs "
                    "[fleet] with servers and name", EXIT_CONFIG)
    if args.timeout <= 0:
        return fail(f"--timeout must be above 0, was {args.timeout!r}", EXIT_CONFIG)
    try:
        import nats  # noqa: F401
    except ImportError:
        return fail("libra fleet needs nats-py: pip install 'libra-trader[nats]'", EXIT_CONFIG)
    token = config.http.token.get_secret_value() if config.http.token is not None else None
    fleet = config.fleet.model_copy(update={"connect_timeout": args.timeout})
    return fleet, token or None


def cmd_fleet_status(args: argparse.Namespace) -> int:
    from libra.fleet.client import FleetClient, FleetUnavailable, fleet_view

    setup = _setup(args)
    if isinstance(setup, int):
        return setup
    fleet, token = setup

    async def read() -> list[dict[str, Any]]:
        async with FleetClient(fleet, token) as client:
            return await client.heartbeats()

    try:
        beats = run_async(read())
    except FleetUnavailable as exc:
        return fail(str(exc), EXIT_FAILURE)
    view = fleet_view(beats, args.stale_after)
    view["fleet"] = fleet.name
    if args.json:
        print(json.dumps(view, indent=2, sort_keys=True))
    else:
        print(render_fleet(view, args.stale_after))
    return EXIT_OK


def cmd_fleet_command(args: argparse.Namespace) -> int:
    from libra.fleet.client import FleetClient, FleetUnavailable, fleet_view
    from libra.fleet.protocol import ALL

    setup = _setup(args)
    if isinstance(setup, int):
        return setup
    fleet, token = setup
    if not token:
        return fail(f"{args.config}: field http.token: commands are signed with the daemons' "
                    "http.token; set it (e.g. token = \"${LIBRA_HTTP_TOKEN}\")", EXIT_CONFIG)
    action = args.fleet_command

    async def send() -> tuple[set[str], dict[str, dict[str, Any]]]:
        async with FleetClient(fleet, token) as client:
            if args.kernel is not None:
                expected = {args.kernel}
            else:
                view = fleet_view(await client.heartbeats(), args.stale_after)
                expected = {str(d.get("kernel")) for d in view["daemons"]}
            answers = await client.command(action, args.kernel or ALL, expected, args.timeout)
            return expected, answers

    try:
        expected, answers = run_async(send())
    except FleetUnavailable as exc:
        return fail(str(exc), EXIT_FAILURE)
    missing = sorted(expected - set(answers))
    failed = sorted(k for k, a in answers.items() if not a.get("ok") or not a.get("verified"))
    if args.json:
        print(json.dumps({"action": action, "answers": answers, "missing": missing},
                         indent=2, sort_keys=True))
    else:
        for name in sorted(answers):
            print(render_answer(answers[name]))
        for name in missing:
            print(f"{name}: no answer within {args.timeout:g}s")
        if not answers and not missing:
            print("no daemon heard from and none answered")
    if missing or failed or not answers:
        return fail(f"fleet {action}: {len(answers) - len(failed)} done, {len(failed)} "
                    f"refused or incomplete, {len(missing)} did not answer", EXIT_FAILURE)
    return EXIT_OK


def render_answer(answer: dict[str, Any]) -> str:
    """Return one daemon's answer as one line a person reads."""
    name = answer.get("kernel")
    signed = "" if answer.get("verified") else " (answer signature does not match)"
    if answer.get("refused"):
        return f"{name}: refused: {answer['refused']}{signed}"
    result = answer.get("result") or {}
    details = ", ".join(f"{k} {v}" for k, v in result.items()
                        if isinstance(v, (str, int, float, bool)) or v is None)
    verdict = "ok" if answer.get("ok") else "incomplete"
    return f"{name}: {answer.get('action')} {verdict}: {details}{signed}"


def render_fleet(view: dict[str, Any], stale_after: float) -> str:
    """Return the fleet view as a short summary (``--json`` prints all of it)."""
    daemons = view["daemons"]
    lines = [f"fleet {view.get('fleet')}: {len(daemons)} daemon(s) with a heartbeat within "
             f"{stale_after:g}s"]
    for d in daemons:
        gateways = ", ".join(f"{gid} {'connected' if g.get('connected') else 'disconnected'}"
                             for gid, g in (d.get("gateways") or {}).items()) or "none"
        strategies = ", ".join(f"{sid} {s.get('state')}"
                               for sid, s in (d.get("strategies") or {}).items()) or "none"
        lines.append(f"{d.get('kernel')} on {d.get('host')}: {d.get('state')}, trading "
                     f"{d.get('trading_state')}, heartbeat {d.get('heartbeat_age', 0):.1f}s ago")
        lines.append(f"  gateways: {gateways}; strategies: {strategies}")
        lines.append(f"  open orders: {d.get('open_orders', 0)}; PnL: {d.get('pnl')}")
        for p in d.get("positions") or []:
            if p.get("quantity") in (None, "0") or not Decimal(str(p["quantity"])):
                continue  # flat
            lines.append(f"  position {p.get('strategy_id')} {p.get('symbol')}: "
                         f"{p.get('quantity')} @ {p.get('avg_entry_price')}")
    lines.append("exposure:" if view["exposure"] else "exposure: none")
    for symbol, total in view["exposure"].items():
        lines.append(f"  {symbol}: quantity {total['quantity']}, notional {total['notional']} "
                     f"({total['daemons']} daemon(s))")
    return "\n".join(lines)
