"""Settings of the notifications service (environment variables prefixed
``RAPPORT_NOTIFICATIONS_``)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from shared.service_key import check_key_length
from shared.settings import ServiceSettings

# Quick first retries (a restarting relay), then minutes, then hours: about a day in all.
DEFAULT_RETRY_SCHEDULE_SECONDS: list[float] = [10, 60, 300, 1800, 7200, 21600, 43200]
LANGUAGES: tuple[str, ...] = ("en", "es")


class Clinic(BaseModel):
    """One clinic: the From its emails carry, its clinicians, and its on-call recipient."""

    name: str
    sender: str = Field(description='the From header, e.g. "Northside Clinic <care@north.example>"')
    clinician_ids: list[uuid.UUID] = Field(default_factory=list)
    on_call: str | None = Field(None, description="who receives safety-flag escalations")


class NotificationsSettings(ServiceSettings):
    """Everything the notifications service reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="RAPPORT_NOTIFICATIONS_", extra="ignore", populate_by_name=True
    )

    port: int = 8005
    database_url: str = "sqlite+aiosqlite:///./var/notifications.db"
    # Where identity's internal API listens (contacts, reset and invitation links).
    identity_url: str = "http://127.0.0.1:8001"
    # The key presented to identity's internal API (the same value as identity's
    # RAPPORT_IDENTITY_NOTIFICATIONS_KEY); development and test use shared.service_key's
    # public one.
    identity_key: SecretStr | None = None
    # Where people open what an email links to (the gateway's public address).
    public_url: str = "http://127.0.0.1:8000"

    # SMTP. "starttls" upgrades a plain connection (port 587), "tls" is implicit TLS (465),
    # "none" is for a local sink only: production refuses it.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # A CA bundle to verify the server with instead of the system's (a private relay).
    smtp_ca_file: str | None = None
    smtp_timeout_seconds: float = Field(30.0, gt=0)

    # Clinics (JSON list in the environment): each clinician's emails go out under their
    # clinic's From; anyone else's under default_sender.
    clinics: list[Clinic] = Field(default_factory=list)
    default_sender: str = "Rapport <no-reply@rapport.invalid>"
    # Who receives a safety-flag escalation when the clinician's clinic names nobody.
    default_on_call: str | None = None
    default_language: Literal["en", "es"] = "en"

    # Delay before each retry after a failed attempt; when it runs out the notification has
    # failed for good (and shows in the admin's failure list).
    retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: list(DEFAULT_RETRY_SCHEDULE_SECONDS)
    )
    dispatcher_poll_seconds: float = Field(1.0, gt=0)
    max_concurrent_sends: int = Field(8, ge=1)
    # The key unsubscribe links are signed with; development and test use a public one.
    unsubscribe_key: SecretStr | None = None

    _service_key_is_long_enough = field_validator("identity_key", "unsubscribe_key")(
        check_key_length
    )

    @field_validator("retry_schedule_seconds")
    @classmethod
    def _delays_are_not_negative(cls, delays: list[float]) -> list[float]:
        if any(delay < 0 for delay in delays):
            raise ValueError("retry delays must be zero or positive")
        return delays

    def clinic_of(self, clinician_id: uuid.UUID | None) -> Clinic | None:
        """The clinic ``clinician_id`` works in, if one is configured."""
        for clinic in self.clinics:
            if clinician_id in clinic.clinician_ids:
                return clinic
        return None
