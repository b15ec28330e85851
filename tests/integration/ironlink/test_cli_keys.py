"""`ironlink keys create|list|revoke` against a real database, and the keys it prints in use."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ironlink.cli import build_parser
from ironlink.settings import Settings
from tests.factories import make_dealer, make_machine, make_owner

Conn = psycopg.Connection[tuple[object, ...]]


def run(settings: Settings, *argv: str) -> int:
    args = build_parser().parse_args(["keys", *argv])
    result: int = args.func(settings, args)
    return result


def create(settings: Settings, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert run(settings, "create", *argv) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1, "stdout holds the key alone"
    return out.strip()


def owner_code(conn: Conn, owner_id: int) -> str:
    row = conn.execute("SELECT code FROM owners WHERE id = %s", (owner_id,)).fetchone()
    assert row is not None
    return str(row[0])


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def status(client: TestClient, path: str, key: str) -> int:
    return client.get(path, headers={"Authorization": f"Bearer {key}"}).status_code


def test_an_owner_key_by_code_works_for_that_owner_and_only_its_hash_is_stored(
    settings: Settings, conn: Conn, client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    dealer = make_dealer(conn)
    owner = make_owner(conn, dealer_id=dealer)
    _, serial = make_machine(conn, owner_id=owner, dealer_id=dealer)
    key = create(settings, capsys, "--role", "owner", "--owner", owner_code(conn, owner))
    assert key.startswith("il_")
    row = conn.execute(
        "SELECT role, owner_id, dealer_id, key_sha256 FROM api_keys WHERE prefix = %s",
        (key.split("_")[1],),
    ).fetchone()
    assert row == ("owner", owner, None, hashlib.sha256(key.encode()).digest())
    response = client.get("/v1/owner/machines", headers={"Authorization": f"Bearer {key}"})
    assert [m["serial"] for m in response.json()["items"]] == [serial]


@pytest.mark.parametrize("how", ["id", "code", "name"])
def test_the_owner_is_found_by_id_code_or_unique_name(
    settings: Settings, conn: Conn, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    owner = make_owner(conn)
    conn.execute("UPDATE owners SET name = %s WHERE id = %s", (f"Farm {owner}", owner))
    ref = {"id": str(owner), "code": owner_code(conn, owner), "name": f"FARM {owner}"}[how]
    key = create(settings, capsys, "--role", "owner", "--owner", ref)
    row = conn.execute(
        "SELECT owner_id FROM api_keys WHERE prefix = %s", (key.split("_")[1],)
    ).fetchone()
    assert row == (owner,)


def test_list_shows_keys_without_secrets_and_revoke_by_prefix_or_id(
    settings: Settings, conn: Conn, client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    dealer = make_dealer(conn)
    owner = make_owner(conn, dealer_id=dealer)
    owner_key = create(
        settings, capsys, "--role", "owner", "--owner", str(owner), "--label", "tablet"
    )
    dispatch_key = create(
        settings, capsys, "--role", "dispatcher", "--dealer", str(dealer), "--burst", "5"
    )
    admin_key = create(settings, capsys, "--role", "admin", "--rate-per-s", "2.5")
    assert run(settings, "list") == 0
    listing = capsys.readouterr().out
    for key in (owner_key, dispatch_key, admin_key):
        # il_<hex prefix>_<secret>: the secret is URL-safe base64 and may itself contain "_".
        _, prefix, secret = key.split("_", 2)
        assert prefix in listing
        assert secret not in listing
    assert "tablet" in listing
    assert "default" in listing  # the owner key follows the API's defaults
    assert "10/s burst 5" in listing
    assert "2.5/s burst 50" in listing

    assert run(settings, "revoke", owner_key.split("_")[1]) == 0
    assert "revoked at" in capsys.readouterr().out
    assert status(client, "/v1/owner/machines", owner_key) == 401
    assert run(settings, "list", "--json") == 0
    live = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {k["prefix"] for k in live} == {dispatch_key.split("_")[1], admin_key.split("_")[1]}
    assert run(settings, "list", "--all", "--json") == 0
    every = {k["prefix"]: k for k in map(json.loads, capsys.readouterr().out.splitlines())}
    assert every[owner_key.split("_")[1]]["revoked_at"] is not None
    assert every[dispatch_key.split("_")[1]]["scope"].startswith("dealer DLR-")

    admin_id = str(every[admin_key.split("_")[1]]["id"])
    assert run(settings, "revoke", admin_id) == 0
    assert status(client, "/v1/dispatch/tickets", admin_key) == 401
    assert status(client, "/v1/dispatch/tickets", dispatch_key) == 200
    # Revoking twice changes nothing and says so.
    assert run(settings, "revoke", admin_id) == 0
    assert "was already revoked" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["create", "--role", "owner"], "an owner key needs an owner"),
        (["create", "--role", "owner", "--owner", "no-such-owner"], "no owner with id, code"),
        (["create", "--role", "owner", "--owner", "{owner}", "--dealer", "1"], "give no dealer"),
        (["create", "--role", "dispatcher", "--owner", "{owner}"], "not to an owner"),
        (["create", "--role", "dispatcher", "--dealer", "DLR-NONE"], "no dealer with id, code"),
        (["create", "--role", "admin", "--dealer", "1"], "no owner or dealer scope"),
        (["create", "--role", "admin", "--burst", "0"], "burst must be at least 1"),
        (["create", "--role", "admin", "--rate-per-s", "-1"], "rate_per_s must be a positive"),
        (["create", "--role", "admin", "--rate-per-s", "nan"], "rate_per_s must be a positive"),
        (["create", "--role", "admin", "--label", "a\nb"], "printable text"),
        (["create", "--role", "owner", "--owner", "Twin Farm"], "2 owners are named"),
        (["revoke", "nope"], "neither a key id nor a 12-character key prefix"),
        (["revoke", "999999"], "no API key with id or prefix"),
        (["revoke", "0123456789ab"], "no API key with id or prefix"),
    ],
)
def test_bad_arguments_exit_2_with_a_reason(
    settings: Settings,
    conn: Conn,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    owner = make_owner(conn)
    for _ in range(2):
        conn.execute("UPDATE owners SET name = 'Twin Farm' WHERE id = %s", (make_owner(conn),))
    before = conn.execute("SELECT count(*) FROM api_keys").fetchone()
    assert run(settings, *[a.replace("{owner}", str(owner)) for a in argv]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""
    assert conn.execute("SELECT count(*) FROM api_keys").fetchone() == before


def test_an_unknown_role_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["keys", "create", "--role", "root"])
    assert exit_.value.code == 2
    assert "invalid choice: 'root'" in capsys.readouterr().err
