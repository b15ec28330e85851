"""Device provisioning through the admin API against real brokers: the project's running Mosquitto
(scripts/services.sh), and one of the test's own whose config reads the generated ACL file, as
services.sh would once its `acl_file` points there. Credentials are issued, rotated and revoked
over HTTP and then used by a real paho client."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from api.app import create_app
from api.auth import Role, create_key
from ironlink.broker_auth import sync_users, upsert_users
from ironlink.settings import Settings
from telemetry.broker_files import SHARED_ACL, BrokerFiles, apply
from telemetry.wire import Kind
from tests.factories import make_dealer, make_machine, make_owner
from tests.mqtt_helpers import connack_reason

Conn = psycopg.Connection[tuple[object, ...]]
# The broker reloads on SIGHUP from its main loop: a few milliseconds, but not synchronously.
RELOAD_WAIT_S = 5.0


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    files: BrokerFiles
    watcher: tuple[str, str]  # a service user that may read every machine's topics


def _client(username: str, password: str) -> mqtt.Client:
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"test-{uuid.uuid4().hex[:8]}",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.username_pw_set(username, password)
    return client


def connect_reason(broker: Broker, username: str, password: str) -> str:
    """The CONNACK's reason, e.g. "Success" or "Not authorized"."""
    return connack_reason(_client(username, password), broker.host, broker.port)


def eventually(broker: Broker, username: str, password: str, *, accepted: bool) -> str:
    deadline = time.monotonic() + RELOAD_WAIT_S
    while True:
        reason = connect_reason(broker, username, password)
        if (reason == "Success") == accepted or time.monotonic() > deadline:
            return reason
        time.sleep(0.05)


@dataclass
class Watcher:
    received: list[str]

    def saw(self, topic: str, *, within_s: float = 3.0) -> bool:
        deadline = time.monotonic() + within_s
        while topic not in self.received and time.monotonic() < deadline:
            time.sleep(0.02)
        return topic in self.received


@pytest.fixture
def watch(broker_under_test: Broker) -> Iterator[Watcher]:
    watcher = Watcher([])
    client = _client(*broker_under_test.watcher)
    subscribed = threading.Event()
    client.on_message = lambda c, u, m: watcher.received.append(m.topic)
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_connect = lambda c, *a: c.subscribe("ironlink/v1/#", qos=1)
    client.connect(broker_under_test.host, broker_under_test.port)
    client.loop_start()
    assert subscribed.wait(10), "the watcher did not subscribe"
    yield watcher
    client.disconnect()
    client.loop_stop()


def publish_as(broker: Broker, username: str, password: str, topics: list[str]) -> None:
    """Publishes b"{}" at QoS 1 to each topic and waits for every PUBACK (a refused publish is
    acknowledged too, with "not authorized", and never delivered)."""
    client = _client(username, password)
    connected = threading.Event()
    client.on_connect = lambda *a: connected.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert connected.wait(10)
        infos = [client.publish(t, b"{}", qos=1) for t in topics]
        for info in infos:
            info.wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


# --- The brokers ----------------------------------------------------------------------------------


@pytest.fixture
def running_broker(base_settings: Settings, broker: tuple[str, int]) -> Broker:
    files = BrokerFiles.from_settings(base_settings)
    assert files is not None, "the settings name no broker password file"
    sync_users(base_settings, [])  # the ingest user, to watch with
    return Broker(
        broker[0], broker[1], files, (base_settings.mqtt_user, base_settings.mqtt_password)
    )


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto reading the generated ACL, configured as scripts/services.sh would be."""
    binary = shutil.which("mosquitto")
    if binary is None:
        pytest.fail("mosquitto is not installed; run `make setup`", pytrace=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    pid_file = tmp_path / "mosquitto.pid"
    files = BrokerFiles(
        passwd=tmp_path / "passwd", acl=tmp_path / "acl", base_acl=SHARED_ACL, pid_file=pid_file
    )
    watcher = ("ironlink-monitor", "monitor-secret")
    upsert_users(files.passwd, dict([watcher]))
    apply(files, put={}, remove=(), grants=())  # the ACL file, before the broker reads it
    (tmp_path / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous false\n"
        f"password_file {files.passwd}\n"
        f"acl_file {files.acl}\n"
        f"pid_file {pid_file}\n"
        f"user {getpass.getuser()}\n"
        f"log_dest file {tmp_path}/mosquitto.log\n"
    )
    proc = subprocess.Popen([binary, "-c", str(tmp_path / "mosquitto.conf")])
    deadline = time.monotonic() + 10
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert proc.poll() is None, "mosquitto exited"
        assert time.monotonic() < deadline, "mosquitto did not start"
        time.sleep(0.05)
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "mosquitto does not listen"
            time.sleep(0.05)
    try:
        yield Broker("127.0.0.1", port, files, watcher)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(params=["running_broker", "own_broker"])
def broker_under_test(request: pytest.FixtureRequest) -> Broker:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


# --- The API --------------------------------------------------------------------------------------


@dataclass
class Admin:
    http: TestClient
    key: str
    machine: Callable[[Kind], str]

    def call(self, method: str, path: str) -> tuple[int, dict[str, object]]:
        response = self.http.request(method, path, headers={"Authorization": f"Bearer {self.key}"})
        return response.status_code, (response.json() if response.content else {})


@pytest.fixture
def admin(settings: Settings, conn: Conn, broker_under_test: Broker) -> Iterator[Admin]:
    dealer = make_dealer(conn)
    owner = make_owner(conn, dealer_id=dealer)

    def machine(kind: Kind) -> str:
        return make_machine(conn, owner_id=owner, dealer_id=dealer, kind=kind)[1]

    app = create_app(settings)
    app.state.broker_files = broker_under_test.files
    with TestClient(app) as http:
        yield Admin(http, create_key(conn, role=Role.ADMIN), machine)


def test_issued_credentials_publish_only_to_the_machines_own_topics(
    admin: Admin, broker_under_test: Broker, watch: Watcher
) -> None:
    serial, other = admin.machine(Kind.TRACTOR), admin.machine(Kind.TRACTOR)
    status, issued = admin.call("POST", f"/v1/admin/machines/{serial}/credentials")
    assert status == 201, issued
    assert issued["publish_topics"] == f"ironlink/v1/tractor/{serial}/#"
    password = str(issued["password"])
    assert eventually(broker_under_test, serial, password, accepted=True) == "Success"

    own, forged = (
        f"ironlink/v1/tractor/{serial}/telemetry",
        f"ironlink/v1/tractor/{other}/telemetry",
    )
    publish_as(broker_under_test, serial, password, [forged, own])
    assert watch.saw(own)
    assert forged not in watch.received


def test_only_a_hash_is_kept(admin: Admin, broker_under_test: Broker, conn: Conn) -> None:
    serial = admin.machine(Kind.EXCAVATOR)
    _, issued = admin.call("POST", f"/v1/admin/machines/{serial}/credentials")
    password = str(issued["password"])
    stored = conn.execute(
        "SELECT c.password_hash FROM machine_credentials c JOIN machines m ON m.id = c.machine_id"
        " WHERE m.serial = %s",
        (serial,),
    ).fetchone()
    assert stored is not None
    assert str(stored[0]).startswith("$7$101$")
    assert password not in broker_under_test.files.passwd.read_text()
    assert f"{serial}:{stored[0]}\n" in broker_under_test.files.passwd.read_text()


def test_after_revoke_the_broker_refuses_the_machine(
    admin: Admin, broker_under_test: Broker
) -> None:
    serial = admin.machine(Kind.TRACTOR)
    _, issued = admin.call("POST", f"/v1/admin/machines/{serial}/credentials")
    password = str(issued["password"])
    assert eventually(broker_under_test, serial, password, accepted=True) == "Success"

    status, _ = admin.call("DELETE", f"/v1/admin/machines/{serial}/credentials")
    assert status == 204
    assert eventually(broker_under_test, serial, password, accepted=False) in {
        "Not authorized",
        "Bad user name or password",
    }
    status, body = admin.call("DELETE", f"/v1/admin/machines/{serial}/credentials")
    assert status == 404, body
    status, state = admin.call("GET", f"/v1/admin/machines/{serial}/credentials")
    assert status == 200
    assert state["revoked_at"] is not None


def test_rotation_replaces_the_password_at_once(admin: Admin, broker_under_test: Broker) -> None:
    serial = admin.machine(Kind.TRACTOR)
    _, first = admin.call("POST", f"/v1/admin/machines/{serial}/credentials")
    status, second = admin.call("POST", f"/v1/admin/machines/{serial}/credentials")
    assert status == 201
    assert second["rotations"] == 1
    assert eventually(broker_under_test, serial, str(second["password"]), accepted=True) == (
        "Success"
    )
    assert eventually(broker_under_test, serial, str(first["password"]), accepted=False) != (
        "Success"
    )


@pytest.mark.parametrize("broker_under_test", ["own_broker"], indirect=True)
def test_with_the_generated_acl_the_kind_is_pinned_too(
    admin: Admin, broker_under_test: Broker, watch: Watcher
) -> None:
    # The shared ACL's fleet pattern allows any kind under one's own serial; the machine's own
    # block denies the other kinds, which Mosquitto checks before any grant.
    serial = admin.machine(Kind.TRACTOR)
    _, issued = admin.call("POST", f"/v1/admin/machines/{serial}/credentials")
    password = str(issued["password"])
    assert eventually(broker_under_test, serial, password, accepted=True) == "Success"
    wrong_kind, own = (
        f"ironlink/v1/excavator/{serial}/telemetry",
        f"ironlink/v1/tractor/{serial}/events",
    )
    publish_as(broker_under_test, serial, password, [wrong_kind, own])
    assert watch.saw(own)
    assert wrong_kind not in watch.received


def test_unknown_and_retired_machines_get_no_credentials(admin: Admin) -> None:
    status, body = admin.call("POST", "/v1/admin/machines/T-NOSUCH/credentials")
    assert status == 404, body
    serial = admin.machine(Kind.TRACTOR)
    response = admin.http.patch(
        f"/v1/admin/machines/{serial}",
        json={"active": False},
        headers={"Authorization": f"Bearer {admin.key}"},
    )
    assert response.status_code == 200, response.text
    status, body = admin.call("POST", f"/v1/admin/machines/{serial}/credentials")
    assert status == 409, body


def test_revoking_drops_the_machines_open_connection(
    admin: Admin, broker_under_test: Broker
) -> None:
    # Mosquitto re-checks connected clients against the password file it reloads.
    serial = admin.machine(Kind.TRACTOR)
    _, issued = admin.call("POST", f"/v1/admin/machines/{serial}/credentials")
    password = str(issued["password"])
    assert eventually(broker_under_test, serial, password, accepted=True) == "Success"
    client = _client(serial, password)
    connected, dropped = threading.Event(), threading.Event()
    client.on_connect = lambda *a: connected.set()
    client.on_disconnect = lambda *a: dropped.set()
    client.reconnect_delay_set(60, 60)  # no reconnect within the test
    client.connect(broker_under_test.host, broker_under_test.port)
    client.loop_start()
    try:
        assert connected.wait(10)
        status, _ = admin.call("DELETE", f"/v1/admin/machines/{serial}/credentials")
        assert status == 204
        assert dropped.wait(RELOAD_WAIT_S), "the revoked machine is still connected"
    finally:
        client.disconnect()
        client.loop_stop()
