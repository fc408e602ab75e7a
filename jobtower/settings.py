"""The one settings class, read from the environment; ``settings`` is its one instance."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JOBTOWER_", extra="ignore")

    # Where the embedded default keeps its SQLite file and Redis data.
    data_dir: Path = Path(".jobtower")
    # PostgreSQL in production (postgres://…); SQLite in ``data_dir`` when unset.
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "JOBTOWER_DATABASE_URL")
    )
    # A Redis server of your own; when unset Jobtower starts one in ``data_dir``.
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "JOBTOWER_REDIS_URL")
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite://{(self.data_dir / 'jobtower.db').resolve()}"


settings = Settings()
