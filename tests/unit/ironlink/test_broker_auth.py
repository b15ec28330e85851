from __future__ import annotations

from pathlib import Path

import pytest

from ironlink.broker_auth import (
    device_password,
    hash_password,
    read_passwd,
    upsert_users,
    verify_password,
)

# Written by Debian's `mosquitto_passwd -b pw bob secret` (Mosquitto 2.0.11).
MOSQUITTO_ENTRY = (
    "$7$101$zCcVPvgEPjtc1262$Y2cbNoH/lKx5oZBq5b0HoO+yaAuenITO6ZS9vVmDhcFLj+G5VWsafX8Pu4+wMaI/"
    "oGl16ZCn/3bZw/DxSWZUvg=="
)


def test_verifies_an_entry_written_by_mosquitto_passwd() -> None:
    assert verify_password("secret", MOSQUITTO_ENTRY)
    assert not verify_password("Secret", MOSQUITTO_ENTRY)


def test_own_hashes_use_the_mosquitto_format() -> None:
    entry = hash_password("pw", salt=b"0123456789ab")
    assert entry.startswith("$7$101$")
    assert verify_password("pw", entry)


def test_upsert_keeps_other_users_and_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    assert upsert_users(path, {"a": "1", "b": "2"})
    assert not upsert_users(path, {"a": "1"})  # nothing changed
    assert upsert_users(path, {"b": "3", "c": "4"})
    entries = read_passwd(path)
    assert sorted(entries) == ["a", "b", "c"]
    assert verify_password("3", entries["b"])
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("user", ["", "a:b", "a/b", "a+b", "a#"])
def test_user_names_that_would_break_topics_or_the_file_are_refused(
    tmp_path: Path, user: str
) -> None:
    with pytest.raises(ValueError, match="invalid MQTT user"):
        upsert_users(tmp_path / "passwd", {user: "x"})


def test_device_passwords_differ_per_serial_and_secret() -> None:
    assert device_password("s", "TR-0001") != device_password("s", "TR-0002")
    assert device_password("s", "TR-0001") != device_password("t", "TR-0001")
    assert device_password("s", "TR-0001") == device_password("s", "TR-0001")
