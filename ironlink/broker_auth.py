"""Mosquitto credentials: the password file in Mosquitto 2's PBKDF2-SHA512 format, and reloads.

The broker allows no anonymous clients. Services have their own users; each machine is a user
named by
its serial, and the ACL (docker/mosquitto/acl) lets it publish only under its own serial.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import os
import secrets
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from ironlink.settings import Settings

# Mosquitto 2's mosquitto_passwd writes $7$ entries: PBKDF2-HMAC-SHA512, 101 iterations, 12-byte
# salt.
PBKDF2_ITERATIONS: Final = 101
SALT_BYTES: Final = 12


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS, dklen=64)
    b64 = base64.b64encode
    return f"$7${PBKDF2_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, entry: str) -> bool:
    try:
        _, kind, iterations, salt_b64, digest_b64 = entry.split("$")
    except ValueError:
        return False
    if kind != "7":
        return False
    salt = base64.b64decode(salt_b64)
    expected = base64.b64decode(digest_b64)
    got = hashlib.pbkdf2_hmac(
        "sha512", password.encode(), salt, int(iterations), dklen=len(expected)
    )
    return hmac.compare_digest(got, expected)


def device_password(device_secret: str, serial: str) -> str:
    """The simulated fleet's per-machine password, derived so simulator and provisioning agree."""
    return hmac.new(device_secret.encode(), serial.encode(), hashlib.sha256).hexdigest()


def read_passwd(path: Path) -> dict[str, str]:
    entries: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#") and ":" in line:
                user, entry = line.split(":", 1)
                entries[user] = entry
    return entries


def upsert_users(path: Path, users: Mapping[str, str]) -> bool:
    """Adds or updates users (name -> clear password) and keeps the others; True if the file
    changed.

    Entries whose stored hash already matches are left alone, so a re-run rewrites nothing.
    """
    for user in users:
        if not user or ":" in user or any(c in user for c in "+#/\n"):
            raise ValueError(f"invalid MQTT user name {user!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entries = read_passwd(path)
        changed = False
        for user, password in users.items():
            current = entries.get(user)
            if current is None or not verify_password(password, current):
                entries[user] = hash_password(password)
                changed = True
        if changed:
            tmp = path.with_suffix(".tmp")
            tmp.write_text("".join(f"{u}:{e}\n" for u, e in sorted(entries.items())))
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        return changed


def reload_broker(pid_file: Path) -> bool:
    """Asks a local Mosquitto to re-read its password and ACL files; False if it is not running."""
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False
    return True


def sync_users(settings: Settings, serials: Sequence[str]) -> bool:
    """Writes the ingest service's and these machines' credentials into the broker's password file
    and makes a local broker reload it; True if the file changed."""
    if not settings.mqtt_passwd_file:
        return False
    users = {settings.mqtt_user: settings.mqtt_password}
    users.update({s: device_password(settings.device_secret, s) for s in serials})
    changed = upsert_users(Path(settings.mqtt_passwd_file), users)
    if changed and settings.mqtt_pid_file:
        reload_broker(Path(settings.mqtt_pid_file))
    return changed
