"""Process settings, read once from the environment in main() and passed down.

Every key is IRONLINK_*; the database can also be named with libpq's PG* variables. Defaults
point at
the project's own local services (scripts/services.sh), so a fresh checkout runs without a .env
file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

DEFAULT_PG_PORT: Final = 55432
DEFAULT_MQTT_PORT: Final = 51883
DEFAULT_API_PORT: Final = 58080
# IRONLINK_* variables read elsewhere than Settings: the local state directory and cluster port
# (here, and scripts/services.sh, which also reads the cluster's superuser), the CLI's default
# webhook secret, and the API port docker/compose.yaml publishes.
OTHER_KEYS: Final = frozenset(
    {
        "IRONLINK_DATABASE_URL",
        "IRONLINK_STATE_DIR",
        "IRONLINK_PG_PORT",
        "IRONLINK_PG_SUPERUSER",
        "IRONLINK_WEBHOOK_SECRET",
        "IRONLINK_API_PORT_PUBLISHED",
    }
)


class SettingsError(ValueError):
    """Raised with every bad key at once, so an operator fixes them in one go."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = DEFAULT_MQTT_PORT
    mqtt_user: str = "ironlink-ingest"
    mqtt_password: str = "ironlink-ingest-dev"
    # Machine credentials for the simulated fleet are derived from this secret (see broker_auth);
    # production devices get random credentials at provisioning.
    device_secret: str = "ironlink-device-dev-secret"
    # Where the broker's password file lives and the pid to signal after it changes; empty when the
    # broker is managed elsewhere (e.g. Docker).
    mqtt_passwd_file: str = ""
    mqtt_pid_file: str = ""
    ingest_group: str = "ingest"
    ingest_batch_max: int = 2000
    ingest_flush_s: float = 0.2
    ingest_session_expiry_s: int = 86_400
    # Each ingest worker serves Prometheus metrics on metrics_port + its index (0: not served).
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 59108
    api_host: str = "127.0.0.1"
    api_port: int = DEFAULT_API_PORT
    log_level: str = "INFO"
    # Alert e-mail goes through this relay (a local MTA or the provider's submission port).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_sender: str = "IronLink Alerts <alerts@ironlink.invalid>"
    smtp_starttls: bool = False
    smtp_user: str = ""
    smtp_password: str = ""
    # Per webhook request or SMTP conversation step; a slower receiver is retried later.
    alert_timeout_s: float = 10.0
    # Readings and faults older than this are dropped daily (telemetry.retention); 0 keeps them
    # forever. Two years covers a machine's warranty period and a season-on-season comparison.
    retention_days: int = 730
    # Delivered and dead alerts older than this are pruned by the same daily job (0 keeps them):
    # a quarter is long enough to answer "did the owner get told?" about last season's tickets.
    alert_retention_days: int = 90
    # A live ticket with less than this share of its SLA window left gets an sla_near event.
    sla_near_fraction: float = 0.25
    # A service forecast due within this many days is alerted to owner and dealer, once.
    service_due_lead_days: int = 7

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _database_url(environ: Mapping[str, str]) -> str:
    if url := environ.get("IRONLINK_DATABASE_URL"):
        return url
    host = environ.get("PGHOST", "127.0.0.1")
    # IRONLINK_PG_PORT is the port scripts/services.sh starts the local cluster on.
    port = environ.get("PGPORT") or environ.get("IRONLINK_PG_PORT") or str(DEFAULT_PG_PORT)
    user = environ.get("PGUSER", "ironlink")
    dbname = environ.get("PGDATABASE", "ironlink")
    password = environ.get("PGPASSWORD", "")
    auth = f"{user}:{password}" if password else user
    return f"postgresql://{auth}@{host}:{port}/{dbname}"


def default_state_dir() -> Path:
    return Path(__file__).resolve().parent.parent / ".state"


def load(environ: Mapping[str, str]) -> Settings:
    errors: list[str] = []
    state = Path(environ.get("IRONLINK_STATE_DIR", str(default_state_dir())))
    values: dict[str, object] = {"database_url": _database_url(environ)}
    defaults = Settings(database_url="")
    for field in dataclasses.fields(Settings):
        if field.name == "database_url":
            continue
        key = "IRONLINK_" + field.name.upper()
        raw = environ.get(key)
        if raw is None:
            continue
        current = getattr(defaults, field.name)
        try:
            if isinstance(current, bool):
                values[field.name] = raw.lower() in {"1", "true", "yes", "on"}
            elif isinstance(current, int):
                values[field.name] = int(raw)
            elif isinstance(current, float):
                values[field.name] = float(raw)
            else:
                values[field.name] = raw
        except ValueError:
            errors.append(f"{key}={raw!r} is not a valid {type(current).__name__}")
    values.setdefault("mqtt_passwd_file", str(state / "mosquitto" / "passwd"))
    values.setdefault("mqtt_pid_file", str(state / "mosquitto" / "mosquitto.pid"))
    settings = Settings(**values)  # type: ignore[arg-type]
    if not 0 < settings.ingest_batch_max <= 32_000:
        errors.append("IRONLINK_INGEST_BATCH_MAX must be within 1..32000 (MQTT receive maximum)")
    if settings.ingest_flush_s <= 0:
        errors.append("IRONLINK_INGEST_FLUSH_S must be positive")
    if settings.retention_days < 0:
        errors.append("IRONLINK_RETENTION_DAYS must be 0 (keep forever) or more")
    if not 0 < settings.sla_near_fraction < 1:
        errors.append("IRONLINK_SLA_NEAR_FRACTION must be between 0 and 1")
    if settings.alert_retention_days < 0:
        errors.append("IRONLINK_ALERT_RETENTION_DAYS must be 0 (keep forever) or more")
    if settings.service_due_lead_days < 0:
        errors.append("IRONLINK_SERVICE_DUE_LEAD_DAYS must be 0 or more")
    if settings.alert_timeout_s <= 0:
        errors.append("IRONLINK_ALERT_TIMEOUT_S must be positive")
    if errors:
        raise SettingsError("; ".join(errors))
    return settings


def unknown_keys(environ: Mapping[str, str]) -> list[str]:
    """IRONLINK_* variables that nothing reads: load() ignores them, so a misspelt key (say
    IRONLINK_RETENTION_DAY) would otherwise leave its default in force without a word."""
    known = {"IRONLINK_" + f.name.upper() for f in dataclasses.fields(Settings)} | OTHER_KEYS
    return sorted(k for k in environ if k.startswith("IRONLINK_") and k not in known)
