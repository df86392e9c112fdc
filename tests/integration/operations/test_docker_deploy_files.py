"""The Docker deploy files agree with each other and with pyproject.toml.

The image itself is built and run by scripts/container-test.sh (a minute or more); these
checks catch in a second what would otherwise only fail there, or on an operator's host:
a dependency added without `make constraints`, a secret the config needs but the env file
template does not name, a state file outside the state volume, a grace period shorter than
the daemon's own shutdown timeout.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"


def _pins(path: Path) -> dict[str, list[tuple[Requirement, int]]]:
    """Return each package's pinned requirements in a uv/pip-compile file, with hash counts."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    pins: dict[str, list[tuple[Requirement, int]]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = re.split(r"\s+(?=--)", line)
        parsed = Requirement(requirement)
        hashes = sum(1 for option in options if option.startswith("--hash=sha256:"))
        pins.setdefault(canonicalize_name(parsed.name), []).append((parsed, hashes))
    return pins


def _compose_service() -> dict[str, Any]:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    service: dict[str, Any] = compose["services"]["libra"]
    return service


def _docker_config() -> dict[str, Any]:
    return tomllib.loads((DEPLOY / "docker" / "libra.toml").read_text(encoding="utf-8"))


def _unpinned(lock: str, dependencies: list[str]) -> list[str]:
    """Return what is wrong with ``dependencies``' pins in ``requirements/<lock>``."""
    pins = _pins(REPO / "requirements" / lock)
    problems = []
    for dependency in map(Requirement, dependencies):
        if dependency.marker is not None and not dependency.marker.evaluate():
            continue
        candidates = [
            (pin, hashes) for pin, hashes in pins.get(canonicalize_name(dependency.name), [])
            if pin.marker is None or pin.marker.evaluate()
        ]
        if not candidates:
            problems.append(f"{dependency.name}: not pinned")
            continue
        pin, hashes = candidates[0]
        version = next(iter(pin.specifier)).version
        if not dependency.specifier.contains(version, prereleases=True):
            problems.append(f"{dependency.name}: pinned {version}, pyproject wants "
                            f"{dependency.specifier}")
        if hashes == 0:
            problems.append(f"{dependency.name}: no hash")
    return [f"{lock}: {problem}" for problem in problems]


def test_every_dependency_is_pinned_with_hashes_in_the_image_locks():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = project["dependencies"]
    extras = [*runtime, *project["optional-dependencies"]["notify"],
              *project["optional-dependencies"]["nats"]]
    problems = _unpinned("constraints.txt", runtime) + _unpinned("constraints-extras.txt", extras)
    assert not problems, f"run `make constraints`: {problems}"


def test_the_extras_lock_keeps_the_runtime_pins():
    """The image with extras runs the same versions as the one without."""
    def versions(lock: str) -> dict[str, list[str]]:
        pins = _pins(REPO / "requirements" / lock)
        return {name: sorted(str(pin.specifier) for pin, _ in found)
                for name, found in pins.items()}

    runtime, extras = versions("constraints.txt"), versions("constraints-extras.txt")
    differ = {name: (pinned, extras.get(name)) for name, pinned in runtime.items()
              if extras.get(name) != pinned}
    assert not differ, f"run `make constraints`: {differ}"


def test_every_secret_the_docker_config_reads_is_in_the_env_file_template():
    config = (DEPLOY / "docker" / "libra.toml").read_text(encoding="utf-8")
    template = (DEPLOY / "docker" / "libra.env.example").read_text(encoding="utf-8")
    named = set(re.findall(r"^\s*#?\s*([A-Z][A-Z0-9_]*)=", template, flags=re.MULTILINE))
    needed = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", config))
    assert needed, "the docker config reads no secret from the environment"
    assert needed <= named, f"missing from libra.env.example: {sorted(needed - named)}"


def test_compose_reads_secrets_from_an_env_file_kept_out_of_git():
    env_files = _compose_service()["env_file"]
    assert env_files == ["./docker/libra.env"]
    ignored = (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "deploy/docker/libra.env" in ignored
    assert (DEPLOY / "docker" / "libra.env.example").is_file()


def test_the_state_file_is_on_the_named_state_volume_and_the_config_is_read_only():
    service = _compose_service()
    state_path = Path(_docker_config()["kernel"]["state_path"])
    mounts = [volume.split(":") for volume in service["volumes"]]
    named = {target for source, target, *_ in mounts if not source.startswith(".")}
    assert any(state_path.is_relative_to(target) for target in named), (state_path, named)
    config_mount = next(m for m in mounts if m[1] == "/etc/libra/libra.toml")
    assert config_mount[2:] == ["ro"]
    assert service["read_only"] is True


def test_the_grace_period_outlasts_the_daemon_shutdown_timeout():
    grace = _compose_service()["stop_grace_period"]
    assert grace.endswith("s"), grace
    assert float(grace[:-1]) > _docker_config()["kernel"]["shutdown_timeout"]
