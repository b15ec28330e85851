"""The running Mosquitto's password and ACL files, rewritten atomically, then a reload signal.

Debian's Mosquitto 2.0.11 re-reads `password_file` and `acl_file` on SIGHUP, without a restart
and without dropping sessions; ACL changes apply to clients already connected. So provisioning
writes both files (temp file + rename: the broker never reads half a file) and signals the pid in
the broker's pid file. The dynamic-security plugin ships in the same package but would need a new
broker config and an admin client with its own credentials; the files are what the broker reads
today (scripts/services.sh), so they stay the one mechanism.

Local services (scripts/services.sh): the password file and pid file are the settings'
`mqtt_passwd_file` and `mqtt_pid_file` (under IRONLINK_STATE_DIR/mosquitto/); the generated ACL is
`acl` beside the password file, made of the shared docker/mosquitto/acl plus one block per
provisioned machine. The broker reads that generated ACL once services.sh points `acl_file` at it
(until then it enforces the shared file's per-serial pattern only).

Docker (not validated here: no engine on this machine): the `mqtt-auth` volume holds passwd and
acl, mounted read-write into the api container (IRONLINK_MQTT_PASSWD_FILE=/mosquitto/auth/passwd)
and read-only into the broker, whose mosquitto.conf then says `acl_file /mosquitto/auth/acl`; the
api image needs docker/mosquitto/acl as the base (or the volume's acl keeps it: see `_base`). A
signal cannot cross containers by pid file, so either the api container joins the broker's pid
namespace (`pid: "service:mosquitto"`, IRONLINK_MQTT_PID_FILE naming a file holding the broker's
pid in that namespace, i.e. 1), or the broker container runs a watcher that sends itself SIGHUP
when the volume's files change (`inotifywait -e moved_to /mosquitto/auth && kill -HUP 1`).
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ironlink.broker_auth import reload_broker
from ironlink.settings import Settings
from telemetry.broker_acl import (
    GENERATED_MARK,
    DeviceGrant,
    base_part,
    merge_passwd,
    parse_passwd,
    render_acl,
    render_passwd,
)

log = logging.getLogger(__name__)

SHARED_ACL: Final = Path(__file__).resolve().parent.parent / "docker" / "mosquitto" / "acl"


class BrokerFilesError(RuntimeError):
    """The broker's files cannot be written: provisioning must not report success."""


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    passwd: Path
    acl: Path
    base_acl: Path  # the hand-written ACL: services' users and the fleet's per-serial pattern
    pid_file: Path | None  # None: the broker is reloaded by other means (see the module doc)

    @classmethod
    def from_settings(cls, settings: Settings) -> BrokerFiles | None:
        """None when the settings name no password file (a broker managed elsewhere)."""
        if not settings.mqtt_passwd_file:
            return None
        passwd = Path(settings.mqtt_passwd_file)
        return cls(
            passwd=passwd,
            acl=passwd.with_name("acl"),
            base_acl=SHARED_ACL,
            pid_file=Path(settings.mqtt_pid_file) if settings.mqtt_pid_file else None,
        )


@dataclass(frozen=True, slots=True)
class Applied:
    changed: bool  # a file's content changed
    reloaded: bool  # and the broker was signalled to read it


@contextmanager
def _locked(files: BrokerFiles) -> Iterator[None]:
    # The lock file ironlink.broker_auth.upsert_users takes too, so `ironlink broker-sync` and the
    # API never interleave their read-modify-write of the password file.
    files.passwd.parent.mkdir(parents=True, exist_ok=True)
    with open(files.passwd.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text() == text:
        return False
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o600)  # the broker runs as the same user (services.sh `user $(id -un)`)
    os.replace(tmp, path)
    return True


def _base(files: BrokerFiles) -> str:
    if files.base_acl.exists():
        return files.base_acl.read_text()
    if files.acl.exists() and GENERATED_MARK in (current := files.acl.read_text()):
        return base_part(current)  # an image without the repo's docker/ keeps the volume's head
    raise BrokerFilesError(f"no base ACL at {files.base_acl} and no generated ACL at {files.acl}")


def apply(
    files: BrokerFiles,
    *,
    put: Mapping[str, str],
    remove: Iterable[str],
    grants: Iterable[DeviceGrant],
) -> Applied:
    """Sets the users in `put` (name -> password-file entry), drops those in `remove`, replaces
    the provisioned machines' ACL blocks with `grants`, and signals the broker if anything changed.

    Users this module does not manage stay as they are. A broker that is not running reads the
    files when it starts, so that is not an error (`reloaded` False)."""
    try:
        with _locked(files):
            current = parse_passwd(files.passwd.read_text()) if files.passwd.exists() else {}
            passwd = render_passwd(merge_passwd(current, put=put, remove=remove))
            changed = _write_if_changed(files.passwd, passwd)
            changed |= _write_if_changed(files.acl, render_acl(base=_base(files), grants=grants))
    except OSError as exc:
        raise BrokerFilesError(f"cannot write the broker's files: {exc}") from exc
    reloaded = changed and files.pid_file is not None and reload_broker(files.pid_file)
    if changed and not reloaded:
        log.warning(
            "broker files changed but no broker was signalled (pid file %s)", files.pid_file
        )
    return Applied(changed=changed, reloaded=reloaded)
