"""The Docker stack (docker/compose.yaml) against the code it runs: no Docker engine needed.

The compose file cannot be started here, so what can drift silently is checked instead: every
command a container runs must parse with the `ironlink` CLI, every IRONLINK_* variable it sets
must be a setting the code reads (settings.load ignores unknown keys, so a typo would do nothing),
the settings must load from it, and its broker must be configured as scripts/services.sh
configures the local one.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from ironlink import settings
from ironlink.cli import build_parser

ROOT = Path(__file__).resolve().parents[3]
DOCKER = ROOT / "docker"


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _env_example() -> dict[str, str]:
    lines = (DOCKER / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def _app_services() -> dict[str, dict[str, Any]]:
    """The services built from the IronLink image (the `x-app` anchor merged in)."""
    services = _compose()["services"]
    return {name: s for name, s in services.items() if s.get("image") == "ironlink:local"}


def _cli_commands() -> list[tuple[str, list[str]]]:
    """(service, argv) of every `ironlink` invocation the app containers make."""
    out: list[tuple[str, list[str]]] = []
    for name, service in _app_services().items():
        command: list[str] = service["command"]
        if service.get("entrypoint") == ["/bin/sh", "-c"]:
            # A shell line of `ironlink ...` steps joined by && (the provision service).
            for step in " ".join(command).split("&&"):
                words = shlex.split(step)
                if words and words[0] == "ironlink":
                    out.append((name, words[1:]))
        else:
            out.append((name, command))
    return out


def test_the_stack_runs_every_process_of_the_local_system() -> None:
    commands = {argv[0] for _, argv in _cli_commands()}
    assert {"migrate", "seed", "broker-sync", "ingest", "scheduler", "api", "simulate"} <= commands


@pytest.mark.parametrize(
    ("service", "argv"), _cli_commands(), ids=[f"{s}:{a[0]}" for s, a in _cli_commands()]
)
def test_each_container_command_parses_with_the_cli(service: str, argv: list[str]) -> None:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's way of refusing an unknown command or option
        pytest.fail(f"{service}: `ironlink {' '.join(argv)}` is refused by the CLI ({exc})")
    assert callable(args.func)


def test_every_ironlink_variable_the_stack_sets_is_a_setting() -> None:
    for name, service in _app_services().items():
        unknown = settings.unknown_keys(service["environment"])
        assert not unknown, f"{name} sets {unknown}, which nothing reads"


def test_settings_load_from_the_stack_environment() -> None:
    example = _env_example()
    env = {
        key: re.sub(r"\$\{(\w+)\}", lambda m: example[m.group(1)], str(value))
        for key, value in _app_services()["api"]["environment"].items()
    }
    loaded = settings.load(env)
    assert loaded.database_url == (
        f"postgresql://ironlink:{example['POSTGRES_PASSWORD']}@db:5432/ironlink"
    )
    assert (loaded.mqtt_host, loaded.mqtt_port) == ("mosquitto", 1883)
    assert loaded.mqtt_passwd_file == "/mosquitto/auth/passwd"


def _broker_settings(text: str) -> dict[str, str]:
    return dict(line.split(None, 1) for line in text.splitlines() if line and line[0] != "#")


def test_the_docker_broker_is_configured_like_the_local_one() -> None:
    docker = _broker_settings((DOCKER / "mosquitto" / "mosquitto.conf").read_text())
    script = (ROOT / "scripts" / "services.sh").read_text()
    heredoc = 'cat > "$MQ_DIR/mosquitto.conf" <<CONF\n'
    local_conf = script.split(heredoc, 1)[1].split("\nCONF\n", 1)[0]
    local = _broker_settings(local_conf)
    # Paths, the listener address and logging differ by design; the broker's behaviour must not.
    for key in (
        "per_listener_settings",
        "allow_anonymous",
        "persistence",
        "autosave_interval",
        "max_queued_messages",
        "max_inflight_messages",
    ):
        assert docker.get(key) == local.get(key), key
    assert docker["acl_file"].endswith("/acl")
    assert local["acl_file"].endswith("/acl")
    # Both brokers start from the one ACL file (services.sh copies docker/mosquitto/acl).
    assert '"$ROOT/docker/mosquitto/acl"' in script
