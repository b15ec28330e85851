from __future__ import annotations

import pytest

from ironlink.broker_auth import hash_password, verify_password
from telemetry.broker_acl import (
    GENERATED_MARK,
    DeviceGrant,
    base_part,
    check_username,
    merge_passwd,
    new_password,
    parse_passwd,
    render_acl,
    render_passwd,
    user_block,
)
from telemetry.wire import Kind

BASE = "user ironlink-ingest\ntopic read ironlink/v1/#\n\npattern write ironlink/v1/+/%u/+\n"


def test_a_machine_may_write_only_under_its_own_kind_and_serial() -> None:
    assert user_block(DeviceGrant("T-1001", Kind.TRACTOR)) == (
        "user T-1001\n"
        "topic write ironlink/v1/tractor/T-1001/#\n"
        "topic deny ironlink/v1/excavator/T-1001/#\n"
    )


def test_the_acl_keeps_the_base_first_and_orders_machines() -> None:
    acl = render_acl(
        base=BASE,
        grants=[DeviceGrant("T-2", Kind.TRACTOR), DeviceGrant("E-1", Kind.EXCAVATOR)],
    )
    assert acl.startswith(BASE)
    assert acl.index(GENERATED_MARK) < acl.index("user E-1") < acl.index("user T-2")
    assert "topic write ironlink/v1/excavator/E-1/#" in acl


def test_rendering_over_a_generated_file_replaces_its_machines() -> None:
    first = render_acl(base=BASE, grants=[DeviceGrant("T-2", Kind.TRACTOR)])
    again = render_acl(base=first, grants=[])
    assert base_part(first) == BASE
    assert "T-2" not in again
    assert again == render_acl(base=BASE, grants=[])


@pytest.mark.parametrize("name", ["", "t-1", "T/1", "T+1", "T#1", "T 1", "T:1", "AB", "X" * 33])
def test_a_name_that_would_break_the_files_or_topics_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="cannot be a broker user name"):
        check_username(name)


def test_merge_keeps_unmanaged_users_sets_and_removes_managed_ones() -> None:
    current = {"ironlink-ingest": "$7$svc", "T-1": "$7$old", "T-2": "$7$two"}
    merged = merge_passwd(current, put={"T-1": "$7$new", "T-3": "$7$three"}, remove=["T-2"])
    assert merged == {"ironlink-ingest": "$7$svc", "T-1": "$7$new", "T-3": "$7$three"}


def test_passwd_text_round_trips() -> None:
    entries = {"b": "$7$101$x$y", "a": "$7$101$z$w"}
    text = render_passwd(entries)
    assert text == "a:$7$101$z$w\nb:$7$101$x$y\n"
    assert parse_passwd("# comment\n\n" + text) == entries


def test_new_passwords_are_random_and_hash_in_the_broker_format() -> None:
    one, two = new_password(), new_password()
    assert one != two
    assert len(one) >= 43  # 32 random bytes, URL-safe base64
    assert verify_password(one, hash_password(one))
