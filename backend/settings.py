"""Settings from ``METERLINE_*`` environment variables or a TOML settings file.

Precedence, highest first: environment variables, the file named by ``METERLINE_SETTINGS_FILE``
(keys are the lower-case names without the prefix), the defaults below. Secrets are never
defaulted in the repository: the JWT secret is generated on first start and kept in the data
directory with mode 0600.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import msgspec

ENV_PREFIX = "METERLINE_"


class SettingsError(ValueError):
    """A setting that cannot be used; the message names it."""


_AT_LEAST_ONE = (
    "auth_account_max_failures",
    "auth_address_max_failures",
    "auth_failure_window_seconds",
    "auth_lockout_seconds",
    "quarantine_power_margin",  # below the rating itself, a healthy meter would be held
)


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    data_dir: str = "var"
    database_url: str = ""  # default: SQLite (WAL) in data_dir
    database_read_url: str = ""  # a streaming replica for read-only reports; default: the primary
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_share_group: str = ""  # e.g. "ingest": several backend processes split ingestion
    mqtt_client_id: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_workers: int = 1  # API processes sharing the port; the leader alone runs the once-work
    auth_cache_seconds: float = 5.0  # a token's user re-read at most this often per process
    timezone: str = "Asia/Shanghai"
    ingest: bool = True  # run ingestion inside the API process
    ingest_batch_size: int = 2000
    ingest_batch_ms: int = 50
    ingest_offline_after_s: int = 3600  # a meter not heard from this long is marked offline
    jwt_secret: str = ""
    access_token_minutes: int = 15
    refresh_token_days: int = 14
    log_level: str = "INFO"
    # prepaid (docs/prepaid.md)
    prepaid_disconnect_window: str = "09:00-16:00"  # local time, working days only
    prepaid_holiday_calendar: str = ""  # TOML file; empty: the shipped China 2026 calendar
    prepaid_warning_lead_hours: int = 24  # a disconnect warning must be this old
    prepaid_low_balance_fen: int = 2000  # warn below this balance ...
    prepaid_low_balance_days: int = 3  # ... or below this many days of credit left
    # the engine queues disconnects when due; needs a provider that confirms delivery
    prepaid_auto_disconnect: bool = False
    prepaid_sweep_seconds: int = 300  # policy / warnings / expiry sweep period
    prepaid_notice_channels: str = "sms,app"  # sms, wechat, app
    # where notices go: log (only written to the log, never "delivered"), simulated (demo,
    # tests), aliyun_sms, wechat (docs/prepaid.md); their secrets in notification_config
    notification_provider: str = "log"
    notification_config: str = ""  # TOML file with the providers' keys and templates
    command_ttl_minutes: int = 120  # a command's not_after, from its creation
    command_ack_grace_seconds: int = 300  # wait this long past not_after for a late ack
    idempotency_retention_days: int = 7  # top-up idempotency keys are kept at least this long
    idempotency_purge_hours: int = 24  # how often expired keys are purged; 0: never here
    keyaccounts_monthly_check_hours: int = 1  # the leader runs a closed month once; 0: never
    prepaid_billing: bool = True  # bill readings as ingestion commits them (in this process)
    prepaid_notify_seconds: int = 10  # notice delivery period; 0: no delivery from here
    postpaid_due_day: int = 15  # a postpaid month's bill is due on this day of the next month
    postpaid_overdue_reminder_days: int = 7  # the overdue reminder, days after the due date
    postpaid_bills_seconds: int = 3600  # issue / late fee / reminder round period; 0: off here
    command_dispatch: bool | None = None  # run the command channel here; unset: as `ingest`
    # online payments (docs/prepaid.md "Payments"): none, simulated, or live (WeChat, Alipay)
    payments_provider: str = "none"
    payments_order_ttl_minutes: int = 30  # an unpaid order expires after this long
    payments_wechat_mchid: str = ""
    payments_wechat_serial: str = ""  # platform certificate serial or public key id
    payments_wechat_public_key_file: str = ""  # PEM: platform public key or certificate
    payments_wechat_apiv3_key_file: str = ""  # file holding the 32-byte APIv3 key (a secret)
    payments_alipay_app_id: str = ""
    payments_alipay_public_key_file: str = ""  # PEM: Alipay's public key
    # field work (抄表, backend/field): reading books, photos, plausibility flags
    field_photo_max_bytes: int = 2 * 1024 * 1024
    field_ami_recent_hours: int = 72  # a meter with an AMI reading this recent needs no visit
    field_safety_inspection_days: int = 180  # key accounts' safety inspection interval (R14)
    field_nearby_max_radius_m: int = 2000
    field_probable_tolerance_m: float = 15.0  # slack over GPS accuracy for "you are here"
    field_register_rollover_wh: int = 1_000_000_000  # 999999.99 kWh wraps to zero
    field_consumption_high_factor: float = 3.0
    field_consumption_low_factor: float = 0.2
    field_usual_min_daily_wh: int = 500
    field_usual_min_history_days: int = 7
    field_usual_lookback_days: int = 90
    field_location_tolerance_m: float = 30.0
    field_max_accuracy_m: float = 50.0
    field_max_speed_kmh: float = 120.0
    field_late_submission_hours: float = 24.0
    field_ami_tolerance_wh: int = 1000
    field_ami_window_hours: int = 24
    field_clock_skew_minutes: float = 10.0
    # plausibility before money: quarantine (docs/prepaid.md "Quarantine")
    quarantine_clock_skew_minutes: float = 15.0  # a reading further ahead of us is held
    quarantine_power_margin: float = 1.5  # a jump above rated power × this is held
    # authentication and HTTP hardening (docs/security.md)
    auth_require_totp: bool = True  # operators and admins must use a second factor (TOTP)
    auth_account_max_failures: int = 5  # failed logins per account in the window, then lockout
    auth_address_max_failures: int = 30  # failed logins per client address in the window
    auth_failure_window_seconds: int = 900
    auth_lockout_seconds: int = 900
    http_tls: bool = False  # served over TLS (here or at a proxy): HSTS, Secure cookies
    http_trusted_proxies: str = "127.0.0.1"  # X-Forwarded-For/-Proto honoured from these only
    http_map_tile_origin: str = ""  # e.g. https://tile.example: allowed by the CSP for map tiles
    # transformer areas (docs/areas.md): the demo's power-cut drills reach the simulators here
    areas_drill_control: str = ""  # host:port of `edge_agent simulate --control`; empty: none
    areas_correlate_seconds: float = 2.0  # outage correlation period; 0: not in this process

    def __post_init__(self) -> None:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{Path(self.data_dir) / 'meterline.db'}"
        if not 0 < self.http_port < 65536:
            raise SettingsError(f"METERLINE_HTTP_PORT: {self.http_port} is not a TCP port")
        if not 1 <= self.http_workers <= 64:
            raise SettingsError("METERLINE_HTTP_WORKERS: 1 to 64 processes")
        if not 0 <= self.auth_cache_seconds <= 60:
            raise SettingsError("METERLINE_AUTH_CACHE_SECONDS: 0 (off) to 60 seconds")
        if self.idempotency_retention_days < 7:
            raise SettingsError(
                "METERLINE_IDEMPOTENCY_RETENTION_DAYS: keys are kept 7 days at least"
            )
        if self.payments_provider not in ("none", "simulated", "live"):
            raise SettingsError("METERLINE_PAYMENTS_PROVIDER: none, simulated or live")
        for name in _AT_LEAST_ONE:
            if getattr(self, name) < 1:
                raise SettingsError(f"METERLINE_{name.upper()}: must be 1 or more")
        scheme = urlsplit(self.mqtt_url).scheme
        if scheme not in ("mqtt", "mqtts", "embedded"):
            raise SettingsError(
                f"METERLINE_MQTT_URL: scheme {scheme!r} must be mqtt://, mqtts:// or embedded://"
            )

    @property
    def runs_command_dispatch(self) -> bool:
        return self.ingest if self.command_dispatch is None else self.command_dispatch

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def mqtt(self) -> MqttEndpoint:
        return MqttEndpoint.parse(self.mqtt_url)

    def ensure_secret(self) -> str:
        """Return the JWT secret, creating and storing one in data_dir if none was given."""
        if self.jwt_secret:
            return self.jwt_secret
        from backend.system.files import private_dir, private_file

        path = self.data_path / "jwt-secret"
        if path.exists():
            private_file(path)  # an older install may have left it readable
            self.jwt_secret = path.read_text().strip()
        else:
            private_dir(self.data_path)
            self.jwt_secret = secrets.token_urlsafe(48)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(self.jwt_secret)
        return self.jwt_secret


class MqttEndpoint(msgspec.Struct, frozen=True):
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    embedded: bool

    @classmethod
    def parse(cls, url: str) -> MqttEndpoint:
        parts = urlsplit(url)
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            embedded=parts.scheme == "embedded",
        )


_FIELDS = set(Settings.__struct_fields__)


def load_settings(
    env: dict[str, str] | None = None, file: str | Path | None = None, **overrides: Any
) -> Settings:
    """Build Settings from a file, the environment and explicit overrides (highest)."""
    env = dict(os.environ) if env is None else env
    raw: dict[str, Any] = {}
    file = file or env.get(ENV_PREFIX + "SETTINGS_FILE")
    if file:
        try:
            data = tomllib.loads(Path(file).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"settings file {file}: {exc}") from None
        for key, value in data.items():
            if key not in _FIELDS:
                raise SettingsError(f"settings file {file}: unknown key {key!r}")
            raw[key] = value
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "SETTINGS_FILE":
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key not in _FIELDS:
            raise SettingsError(f"environment variable {name} is not a meterline setting")
        raw[key] = value
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"setting invalid: {exc}") from None
