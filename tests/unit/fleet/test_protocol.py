"""Signed fleet commands: what a daemon accepts and refuses."""

from __future__ import annotations

import json

import pytest

from libra.fleet.protocol import (
    CommandRefused,
    CommandVerifier,
    answer_body,
    check_kernel_name,
    command_body,
    sign,
    stream_subjects,
)

TOKEN = "desk-token-31d8"
NOW = 1_800_000_000.0


@pytest.fixture
def verifier() -> CommandVerifier:
    return CommandVerifier("desk", "k1", max_age=5.0)


def refusal(verifier: CommandVerifier, body: bytes, signature: str | None,
            token: str | None = TOKEN, now: float = NOW) -> str:
    with pytest.raises(CommandRefused) as caught:
        verifier.verify(token, body, signature, now=now)
    return caught.value.reason


def test_a_signed_fresh_command_is_accepted_once(verifier: CommandVerifier) -> None:
    body = command_body("halt", "desk", now=NOW - 1)

    command = verifier.verify(TOKEN, body, sign(TOKEN, body), now=NOW)

    assert (command.action, command.kernel) == ("halt", "all")
    assert refusal(verifier, body, sign(TOKEN, body)) == "replayed command id"


def test_a_command_for_this_kernel_by_name_is_accepted(verifier: CommandVerifier) -> None:
    body = command_body("flatten", "desk", "k1", now=NOW)

    assert verifier.verify(TOKEN, body, sign(TOKEN, body), now=NOW).action == "flatten"


@pytest.mark.parametrize("signature", [None, "", "00" * 32, sign("other-token", b"x")])
def test_a_wrong_signature_is_refused(verifier: CommandVerifier, signature: str | None) -> None:
    body = command_body("halt", "desk", now=NOW)

    assert refusal(verifier, body, signature) == "bad signature"


def test_a_body_changed_after_signing_is_refused(verifier: CommandVerifier) -> None:
    body = command_body("resume", "desk", now=NOW)
    changed = body.replace(b"resume", b"halt")

    assert refusal(verifier, changed, sign(TOKEN, body)) == "bad signature"


@pytest.mark.parametrize("offset", [-5.5, 60.0])
def test_a_command_too_old_or_from_the_future_is_refused(verifier: CommandVerifier,
                                                         offset: float) -> None:
    body = command_body("halt", "desk", now=NOW + offset)

    assert refusal(verifier, body, sign(TOKEN, body)).startswith("stale")


def test_without_a_token_every_command_is_refused(verifier: CommandVerifier) -> None:
    body = command_body("halt", "desk", now=NOW)

    assert "no http.token" in refusal(verifier, body, sign(TOKEN, body), token=None)


@pytest.mark.parametrize(("body", "reason"), [
    (command_body("halt", "other-desk", now=NOW), "addressed to another fleet or kernel"),
    (command_body("halt", "desk", "k2", now=NOW), "addressed to another fleet or kernel"),
    (command_body("explode", "desk", now=NOW), "unknown action"),
    (b"not json", "body is not JSON"),
    (answer_body("id-1", "k1", "halt", result={"trading_state": "halted"}), "not a command"),
])
def test_a_well_signed_but_wrong_command_is_refused(verifier: CommandVerifier, body: bytes,
                                                    reason: str) -> None:
    assert refusal(verifier, body, sign(TOKEN, body)).startswith(reason)


def test_remembered_ids_are_bounded() -> None:
    verifier = CommandVerifier("desk", "k1", max_age=5.0, max_ids=3)
    for i in range(10):
        body = command_body("resume", "desk", now=NOW, command_id=f"c{i}")
        verifier.verify(TOKEN, body, sign(TOKEN, body), now=NOW)

    first = command_body("resume", "desk", now=NOW, command_id="c9")
    assert refusal(verifier, first, sign(TOKEN, first)) == "replayed command id"
    assert len(verifier._seen) == 3


def test_an_answer_carries_the_action_result() -> None:
    answer = json.loads(answer_body("c1", "k1", "flatten", result={"ok": False, "left": 1}))

    assert answer["v"] == 1
    assert answer["type"] == "answer"
    assert answer["ok"] is False
    assert answer["result"] == {"ok": False, "left": 1}


@pytest.mark.parametrize("name", ["control", "all", "heartbeat", "k 1", "k.1", "k*", ""])
def test_kernel_names_that_would_clash_with_subjects_are_refused(name: str) -> None:
    assert check_kernel_name(name) is not None


def test_the_stream_never_holds_a_command_subject() -> None:
    subjects = stream_subjects("desk")

    assert all(not s.startswith("libra.desk.control") and s.count(".") == 3 for s in subjects)
    assert "libra.desk.*.heartbeat" in subjects
