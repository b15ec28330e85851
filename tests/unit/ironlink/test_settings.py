from __future__ import annotations

import pytest

from ironlink.settings import DEFAULT_PG_PORT, SettingsError, load, unknown_keys


def test_defaults_point_at_the_local_services() -> None:
    s = load({})
    assert s.database_url == f"postgresql://ironlink@127.0.0.1:{DEFAULT_PG_PORT}/ironlink"
    assert s.mqtt_port == 51883
    assert s.mqtt_passwd_file.endswith("mosquitto/passwd")


def test_environment_overrides_with_types() -> None:
    s = load(
        {"IRONLINK_MQTT_PORT": "1884", "IRONLINK_INGEST_FLUSH_S": "0.5", "PGDATABASE": "other"}
    )
    assert s.mqtt_port == 1884
    assert s.ingest_flush_s == 0.5
    assert s.database_url.endswith("/other")


def test_database_url_wins_over_pg_variables() -> None:
    assert (
        load({"IRONLINK_DATABASE_URL": "postgresql://x@h/db", "PGHOST": "y"}).database_url
        == "postgresql://x@h/db"
    )


def test_every_bad_key_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as err:
        load(
            {
                "IRONLINK_MQTT_PORT": "eighty",
                "IRONLINK_API_PORT": "x",
                "IRONLINK_INGEST_BATCH_MAX": "0",
            }
        )
    message = str(err.value)
    assert "IRONLINK_MQTT_PORT" in message
    assert "IRONLINK_API_PORT" in message
    assert "IRONLINK_INGEST_BATCH_MAX" in message


def test_local_cluster_port_is_shared_with_the_services_script() -> None:
    assert load({"IRONLINK_PG_PORT": "56432"}).database_url.endswith(":56432/ironlink")
    assert load({"IRONLINK_PG_PORT": "56432", "PGPORT": "5433"}).database_url.endswith(
        ":5433/ironlink"
    )


def test_retention_and_sla_margin_are_checked() -> None:
    s = load({"IRONLINK_RETENTION_DAYS": "0", "IRONLINK_SLA_NEAR_FRACTION": "0.1"})
    assert (s.retention_days, s.sla_near_fraction) == (0, 0.1)
    with pytest.raises(SettingsError) as err:
        load({"IRONLINK_RETENTION_DAYS": "-1", "IRONLINK_SLA_NEAR_FRACTION": "1"})
    assert "IRONLINK_RETENTION_DAYS" in str(err.value)
    assert "IRONLINK_SLA_NEAR_FRACTION" in str(err.value)


def test_unknown_ironlink_keys_are_named() -> None:
    environ = {
        "IRONLINK_RETENTION_DAY": "30",  # misspelt: load() would keep the default
        "IRONLINK_RETENTION_DAYS": "30",
        "IRONLINK_STATE_DIR": "/tmp/x",
        "IRONLINK_WEBHOOK_SECRET": "s",
        "PGPORT": "5432",
    }
    assert unknown_keys(environ) == ["IRONLINK_RETENTION_DAY"]
    assert load(environ).retention_days == 30
