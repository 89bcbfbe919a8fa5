"""The records service's settings (environment prefix ``RAPPORT_RECORDS_``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class RecordsSettings(ServiceSettings):
    """Settings of the records service; deployment-wide values come from ``RAPPORT_*``."""

    model_config = SettingsConfigDict(
        env_prefix="RAPPORT_RECORDS_", extra="ignore", populate_by_name=True
    )

    port: int = 8002
    database_url: str = "sqlite+aiosqlite:///./var/records.db"
