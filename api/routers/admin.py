"""/v1/admin: owners, dealers, technicians, machines, device provisioning, rule sets.

Every handler depends on AdminPrincipal and runs in one transaction. Records that history refers
to are never deleted: `active` false retires them. Lists are keyset pages (`after` the last id or
serial of the previous page, or `before` the oldest rule-set version) with filters.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, Response

from api.deps import AdminPrincipal, Conn
from api.ids import INTEGER_MAX, RecordId, Version
from api.routers import admin_crm
from api.schemas import admin as s
from api.schemas.admin import problems
from maintenance.errors import Invalid, NotFound
from maintenance.fleet import credentials
from maintenance.fleet import machine_records as machines
from maintenance.rules import versions
from maintenance.rules.load import read_document
from maintenance.rules.store import RuleSetRow, load_rule_set, rule_set_rows
from telemetry.broker_files import BrokerFiles, BrokerFilesError
from telemetry.wire import Kind

router = APIRouter(
    prefix="/v1/admin",
    tags=["admin"],
    responses=problems(401, 403, 422, 429),
)
router.include_router(admin_crm.router)

Limit = Annotated[int, Query(ge=1, le=200, description="page size")]
# A rule file is a few hundred rules at most; a megabyte is far beyond any real one.
MAX_RULE_FILE_BYTES: Final = 1 << 20


def actor_of(principal: AdminPrincipal) -> str:
    return f"api-key:{principal.key_id}"


def optional_broker_files(request: Request) -> BrokerFiles | None:
    """Where the running broker's files are: `app.state.broker_files`, else derived from
    `app.state.settings` (create_app sets one of them); None when neither names a password file."""
    state = request.app.state
    files: BrokerFiles | None = getattr(state, "broker_files", None)
    if files is None and (settings := getattr(state, "settings", None)) is not None:
        files = BrokerFiles.from_settings(settings)
    return files


def broker_files(
    files: Annotated[BrokerFiles | None, Depends(optional_broker_files)],
) -> BrokerFiles:
    if files is None:
        raise HTTPException(
            503, "device provisioning is not configured: this API knows no broker password file"
        )
    return files


Broker = Annotated[BrokerFiles, Depends(broker_files)]
OptionalBroker = Annotated[BrokerFiles | None, Depends(optional_broker_files)]


# --- Machines ------------------------------------------------------------------------------------


def _machine_out(row: machines.MachineRecord) -> s.MachineOut:
    return s.MachineOut.model_validate(row, from_attributes=True)


@router.get("/machines", summary="Machines, by serial")
def list_machines(
    principal: AdminPrincipal,
    conn: Conn,
    after: Annotated[str, Query(max_length=32, description="serial to continue after")] = "",
    limit: Limit = 50,
    kind: Kind | None = None,
    model: Annotated[str | None, Query(max_length=64)] = None,
    owner_id: RecordId | None = None,
    dealer_id: Annotated[RecordId | None, Query(description="servicing dealer")] = None,
    active: Annotated[bool | None, Query(description="omit for both")] = None,
    warranty_from: Annotated[
        date | None, Query(description="only machines under warranty on this day or later")
    ] = None,
) -> s.MachinePage:
    rows = machines.machine_page(
        conn,
        after=after,
        limit=limit,
        kind=kind,
        model=model,
        owner_id=owner_id,
        dealer_id=dealer_id,
        active=active,
        warranty_from=warranty_from,
    )
    return s.MachinePage(
        items=[_machine_out(r) for r in rows],
        next_after=rows[-1].serial if len(rows) == limit else None,
    )


@router.get("/machines/{serial}", summary="One machine", responses=problems(404))
def get_machine(principal: AdminPrincipal, conn: Conn, serial: str) -> s.MachineOut:
    return _machine_out(admin_crm.found(machines.machine(conn, serial=serial), serial))


@router.post(
    "/machines", status_code=201, summary="Register a machine", responses=problems(409, 422)
)
def create_machine(principal: AdminPrincipal, conn: Conn, body: s.MachineIn) -> s.MachineOut:
    fields = machines.MachineFields(**body.model_dump(exclude={"serial", "kind"}))
    with conn.transaction():
        machines.create_machine(conn, serial=body.serial, kind=body.kind, fields=fields)
        row = machines.machine(conn, serial=body.serial)
    assert row is not None
    return _machine_out(row)


@router.patch(
    "/machines/{serial}",
    summary="Change a machine; active=false retires it and revokes its MQTT credentials",
    responses=problems(404, 409, 422, 503),
)
def patch_machine(
    principal: AdminPrincipal,
    conn: Conn,
    broker: OptionalBroker,
    serial: str,
    body: s.MachinePatch,
) -> s.MachineOut:
    with conn.transaction():
        row = admin_crm.found(machines.machine(conn, serial=serial, for_update=True), serial)
        fields = admin_crm.merged(row.fields(), body.changes())
        try:
            s.check_warranty(fields.purchase_date, fields.warranty_end)
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        machines.update_machine(conn, serial=serial, fields=fields)
        if not fields.active and row.mqtt_provisioned:
            # A retired machine must not keep talking to the broker.
            credentials.revoke(
                conn, serial=serial, files=broker_files(broker), actor=actor_of(principal)
            )
        updated = machines.machine(conn, serial=serial)
    assert updated is not None
    return _machine_out(updated)


# --- Device provisioning -------------------------------------------------------------------------


@router.post(
    "/machines/{serial}/credentials",
    status_code=201,
    summary="Issue or rotate the machine's MQTT credentials in the running broker",
    description="A new random password (returned once; only its hash is kept) and an ACL that lets"
    " the machine publish only under `ironlink/v1/{kind}/{serial}/#`. Rotating replaces the old"
    " password at once. The broker re-reads its files without a restart.",
    responses=problems(404, 409, 503),
)
def issue_credentials(
    principal: AdminPrincipal, conn: Conn, broker: Broker, serial: str
) -> s.CredentialsOut:
    try:
        with conn.transaction():
            issued = credentials.issue(conn, serial=serial, files=broker, actor=actor_of(principal))
    except BrokerFilesError as exc:
        raise HTTPException(503, str(exc)) from None
    return s.CredentialsOut(
        serial=serial,
        username=issued.username,
        password=issued.password,
        publish_topics=issued.publish_filter,
        issued_at=issued.issued_at,
        rotations=issued.rotations,
        broker_reloaded=issued.broker_reloaded,
    )


@router.get(
    "/machines/{serial}/credentials",
    summary="Who issued the machine's MQTT credentials and when (never the password)",
    responses=problems(404),
)
def get_credentials(principal: AdminPrincipal, conn: Conn, serial: str) -> s.CredentialStateOut:
    state = credentials.credential_state(conn, serial=serial)
    if state is None:
        admin_crm.found(machines.machine(conn, serial=serial), serial)
        raise NotFound(f"machine {serial!r} was never provisioned")
    return s.CredentialStateOut(serial=serial, **admin_crm.as_dict(state))


@router.delete(
    "/machines/{serial}/credentials",
    status_code=204,
    summary="Revoke the machine's MQTT credentials: the broker refuses its next connect",
    responses=problems(404, 503),
)
def revoke_credentials(
    principal: AdminPrincipal, conn: Conn, broker: Broker, serial: str
) -> Response:
    try:
        with conn.transaction():
            credentials.revoke(conn, serial=serial, files=broker, actor=actor_of(principal))
    except BrokerFilesError as exc:
        raise HTTPException(503, str(exc)) from None
    return Response(status_code=204)


# --- Rule sets (service plans are its service_interval rules) -------------------------------------


def _rule_set_out(row: RuleSetRow) -> s.RuleSetOut:
    return s.RuleSetOut.model_validate(row, from_attributes=True)


def _rule_set_row(conn: Conn, version: int) -> RuleSetRow:
    page = rule_set_rows(conn, before=version + 1, limit=1)
    assert page, f"rule set {version} was just stored"
    return page[0]


@router.get("/rule-sets", summary="Rule-set versions, newest first")
def list_rule_sets(
    principal: AdminPrincipal,
    conn: Conn,
    before: Annotated[
        int, Query(ge=1, le=INTEGER_MAX, description="version to continue below")
    ] = INTEGER_MAX,
    limit: Limit = 50,
    active: Annotated[bool | None, Query(description="omit for both")] = None,
) -> s.RuleSetPage:
    rows = rule_set_rows(conn, before=before, limit=limit, active=active)
    return s.RuleSetPage(
        items=[_rule_set_out(r) for r in rows],
        next_before=rows[-1].version if len(rows) == limit else None,
    )


@router.get("/rule-sets/active", summary="The active rule set's document", responses=problems(404))
def get_active_rule_set(principal: AdminPrincipal, conn: Conn) -> s.RuleSetDocumentOut:
    page = rule_set_rows(conn, before=2**31 - 1, limit=1, active=True)
    if not page:
        raise NotFound("no rule set is loaded yet")
    return get_rule_set(principal, conn, page[0].version)


@router.get(
    "/rule-sets/{version}", summary="One rule-set version's document", responses=problems(404)
)
def get_rule_set(principal: AdminPrincipal, conn: Conn, version: Version) -> s.RuleSetDocumentOut:
    active, document = versions.rule_set_document(conn, version=version)
    return s.RuleSetDocumentOut(version=version, active=active, document=document)


RULE_FILE_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "description": "A rule set as `ironlink rules load` reads it (maintenance/rules/"
        "default_rules.yaml shows the format): `version` above every loaded one, and `rules`.",
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


@router.post(
    "/rule-sets",
    status_code=201,
    summary="Upload a rule set (YAML or JSON); validated, then the active version",
    description="Validated by the same path as `ironlink rules load`. An invalid document is a"
    " 422 naming the rule and field; a version not above the newest loaded is a 409. Either way"
    " nothing changes.",
    responses=problems(409, 422),
    openapi_extra=RULE_FILE_BODY,
)
def upload_rule_set(
    principal: AdminPrincipal,
    conn: Conn,
    body: Annotated[Any, Body(media_type="application/yaml")],
) -> s.RuleSetOut:
    document = body
    if isinstance(body, bytes | str):
        # FastAPI has parsed a JSON body already; anything else arrives as bytes.
        raw = body.encode() if isinstance(body, str) else body
        if len(raw) > MAX_RULE_FILE_BYTES:
            raise Invalid(f"rule file is larger than {MAX_RULE_FILE_BYTES} bytes")
        try:
            document = read_document(raw.decode())
        except UnicodeDecodeError:
            raise Invalid("rule file is not UTF-8 text") from None
    with conn.transaction():
        version = load_rule_set(
            conn, document=document, source="admin-api upload", actor=actor_of(principal)
        )
        return _rule_set_out(_rule_set_row(conn, version))


@router.post(
    "/rule-sets/{version}/activate",
    status_code=201,
    summary="Go back to an older rule set: its document becomes the next version, active",
    description="Versions only go up (a ticket's rule-set version names what opened it), so the"
    " old document is loaded again under a new version; the answer is that new version.",
    responses=problems(404, 409),
)
def activate_rule_set(principal: AdminPrincipal, conn: Conn, version: Version) -> s.RuleSetOut:
    with conn.transaction():
        new_version = versions.reactivate(conn, version=version, actor=actor_of(principal))
        return _rule_set_out(_rule_set_row(conn, new_version))
