"""Settings from METERLINE_* variables and a TOML file, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.settings import SettingsError, load_settings


def test_defaults_put_sqlite_in_the_data_dir() -> None:
    s = load_settings(env={})
    assert s.http_port == 8000
    assert s.database_url == "sqlite+aiosqlite:///var/meterline.db"
    assert s.mqtt.port == 1883


def test_environment_overrides_the_settings_file(tmp_path: Path) -> None:
    f = tmp_path / "meterline.toml"
    f.write_text(
        'http_port = 9001\ndata_dir = "/srv/m"\nmqtt_url = "mqtts://u:p%40w@b.example:8884"\n'
    )
    s = load_settings(env={"METERLINE_SETTINGS_FILE": str(f), "METERLINE_HTTP_PORT": "9002"})
    assert s.http_port == 9002
    assert s.database_url == "sqlite+aiosqlite:////srv/m/meterline.db"
    mq = s.mqtt
    assert (mq.host, mq.port, mq.tls, mq.username, mq.password) == (
        "b.example",
        8884,
        True,
        "u",
        "p@w",
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"METERLINE_HTTP_PORT": "eighty"}, "`int`, got `str` - at `$.http_port`"),
        ({"METERLINE_HTTP_PORT": "70000"}, "METERLINE_HTTP_PORT: 70000 is not a TCP port"),
        ({"METERLINE_MQTT_URL": "http://x"}, "METERLINE_MQTT_URL: scheme 'http'"),
        ({"METERLINE_DATABSE_URL": "x"}, "METERLINE_DATABSE_URL is not a meterline setting"),
    ],
)
def test_a_bad_setting_names_itself(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env=env)
    assert message in str(info.value)


def test_an_unknown_key_in_the_settings_file_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text("htp_port = 1\n")
    with pytest.raises(SettingsError, match="unknown key 'htp_port'"):
        load_settings(env={}, file=f)


def test_the_jwt_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    s = load_settings(env={"METERLINE_DATA_DIR": str(tmp_path)})
    first = s.ensure_secret()
    again = load_settings(env={"METERLINE_DATA_DIR": str(tmp_path)}).ensure_secret()
    assert first == again
    assert len(first) >= 48
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"METERLINE_HTTP_WORKERS": "0"}, "METERLINE_HTTP_WORKERS"),
        ({"METERLINE_HTTP_WORKERS": "65"}, "METERLINE_HTTP_WORKERS"),
        ({"METERLINE_AUTH_CACHE_SECONDS": "-1"}, "METERLINE_AUTH_CACHE_SECONDS"),
        ({"METERLINE_AUTH_CACHE_SECONDS": "61"}, "METERLINE_AUTH_CACHE_SECONDS"),
    ],
)
def test_a_worker_count_or_caller_cache_time_out_of_range_is_refused_by_name(
    env: dict[str, str], match: str
) -> None:
    with pytest.raises(SettingsError, match=match):
        load_settings(env=env)


def test_workers_and_the_caller_cache_time_are_read_from_the_environment() -> None:
    s = load_settings(env={"METERLINE_HTTP_WORKERS": "2", "METERLINE_AUTH_CACHE_SECONDS": "0.5"})
    assert (s.http_workers, s.auth_cache_seconds) == (2, 0.5)
