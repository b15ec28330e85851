"""Pure text for Mosquitto's ACL and password files: what a provisioned machine may do. No I/O.

A provisioned machine is the broker user named by its serial. Its user block grants writes under
`ironlink/v1/{kind}/{serial}/#` and denies the same serial under every other kind: the shared base
ACL (docker/mosquitto/acl) keeps `pattern write ironlink/v1/+/%u/+` for the simulated fleet's
derived credentials, and Mosquitto handles a user's `deny` lines before any grant, patterns
included, so the kind is pinned for provisioned machines only.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from telemetry.wire import TOPIC_ROOT, Kind

# Mirrors the machines.serial CHECK (migration 0002): a topic level and a user name, so never
# '/', '+', '#', ':' or whitespace, which would break the ACL or password file.
USERNAME_RE: Final = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,31}$")
# 32 bytes of randomness: as strong as an API key, so the broker's 101 PBKDF2 rounds suffice.
PASSWORD_BYTES: Final = 32
GENERATED_MARK: Final = "# --- provisioned machines (written by the admin API; do not edit) ---"


@dataclass(frozen=True, slots=True)
class DeviceGrant:
    username: str  # the machine's serial
    kind: Kind


def check_username(username: str) -> str:
    if not USERNAME_RE.fullmatch(username):
        raise ValueError(f"{username!r} cannot be a broker user name (serial rule)")
    return username


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def publish_filter(grant: DeviceGrant) -> str:
    return f"{TOPIC_ROOT}/{grant.kind}/{grant.username}/#"


def user_block(grant: DeviceGrant) -> str:
    check_username(grant.username)
    lines = [f"user {grant.username}", f"topic write {publish_filter(grant)}"]
    lines += [
        f"topic deny {TOPIC_ROOT}/{other}/{grant.username}/#"
        for other in Kind
        if other != grant.kind
    ]
    return "\n".join(lines) + "\n"


def base_part(text: str) -> str:
    """The hand-written part of an ACL file: everything above a previously generated section."""
    head, _, _ = text.partition(GENERATED_MARK)
    return head.rstrip("\n") + "\n"


def render_acl(*, base: str, grants: Iterable[DeviceGrant]) -> str:
    """The whole ACL file: the base (services, fleet pattern), then one block per machine in user
    order, so the same grants always give the same bytes (nothing to reload when nothing changed).

    The base's user-less lines must come first: in Mosquitto's format a `topic` line after a
    `user` line belongs to that user, so blocks can only be appended."""
    blocks = [user_block(g) for g in sorted(grants, key=lambda g: g.username)]
    return base_part(base) + "\n" + GENERATED_MARK + "\n" + "\n".join(blocks)


def parse_passwd(text: str) -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#") and ":" in line:
            user, entry = line.split(":", 1)
            entries[user] = entry
    return entries


def merge_passwd(
    entries: Mapping[str, str], *, put: Mapping[str, str], remove: Iterable[str]
) -> dict[str, str]:
    """`entries` with the users in `put` set to their hash and those in `remove` dropped; users the
    admin API does not manage (services, the simulated fleet) are kept as they are."""
    dropped = set(remove)
    merged = {u: e for u, e in entries.items() if u not in dropped}
    for user, entry in put.items():
        merged[check_username(user)] = entry
    return merged


def render_passwd(entries: Mapping[str, str]) -> str:
    return "".join(f"{u}:{e}\n" for u, e in sorted(entries.items()))
