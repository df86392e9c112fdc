"""``libra ctl`` without a daemon: usage, tokens, addresses, an unreachable daemon."""

from __future__ import annotations

import argparse
import socket

import pytest

from libra.cli.ctl import EXIT_FAILED, EXIT_USAGE, main, resolve_token, resolve_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_usage_errors_exit_2(capsys):
    assert main([]) == EXIT_USAGE
    assert main(["explode"]) == EXIT_USAGE
    assert main(["stop-strategy"]) == EXIT_USAGE
    assert main(["--url", "file:///etc/passwd", "health"]) == EXIT_USAGE


def test_a_control_command_needs_the_token_in_the_environment(monkeypatch, capsys):
    monkeypatch.delenv("LIBRA_HTTP_TOKEN", raising=False)
    assert main(["halt"]) == EXIT_USAGE
    assert "LIBRA_HTTP_TOKEN" in capsys.readouterr().err


def test_an_unreachable_daemon_exits_1(capsys):
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["--url", url, "--timeout", "2", "health"]) == EXIT_FAILED
    assert "cannot reach" in capsys.readouterr().err


def test_the_url_comes_from_flag_config_environment_or_default(tmp_path, monkeypatch):
    config = tmp_path / "libra.toml"
    config.write_text('[http]\nenabled = true\nhost = "0.0.0.0"\nport = 9123\ntoken = "t0ken"\n')

    def url(**values: object) -> str:
        return resolve_url(argparse.Namespace(**{"url": None, "config": None, **values}))

    monkeypatch.delenv("LIBRA_URL", raising=False)
    assert url() == "http://127.0.0.1:8080"
    monkeypatch.setenv("LIBRA_URL", "http://10.0.0.5:9000/")
    assert url() == "http://10.0.0.5:9000"
    assert url(config=str(config)) == "http://127.0.0.1:9123"
    assert url(url="http://h:1/", config=str(config)) == "http://h:1"


@pytest.mark.parametrize("command", ["status", "health", "ready"])
def test_read_commands_need_no_token(command, monkeypatch, capsys):
    monkeypatch.delenv("LIBRA_HTTP_TOKEN", raising=False)
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["--url", url, "--timeout", "2", command]) == EXIT_FAILED  # unreachable, not 2


def test_the_token_comes_from_the_config_as_the_daemon_reads_it(tmp_path, monkeypatch, capsys):
    config = tmp_path / "libra.toml"
    config.write_text('[http]\nenabled = true\nport = 9123\ntoken = "${DESK_TOKEN}"\n')

    def token(**values: object) -> tuple[str, str]:
        return resolve_token(argparse.Namespace(**{"token_env": None, "config": None,
                                                    **values}))

    monkeypatch.setenv("DESK_TOKEN", "desk-secret-1")
    monkeypatch.setenv("LIBRA_HTTP_TOKEN", "default-secret-2")
    monkeypatch.setenv("OTHER", "other-secret-3")
    assert token(config=str(config))[0] == "desk-secret-1"
    assert token()[0] == "default-secret-2"
    assert token(config=str(config), token_env="OTHER")[0] == "other-secret-3"
    monkeypatch.delenv("DESK_TOKEN")
    # Unset: the error names the variable the config reads, and no request is sent.
    assert main(["--config", str(config), "halt"]) == EXIT_USAGE
    assert "DESK_TOKEN" in capsys.readouterr().err
