"""Settings: nested environment variables and production's refusal of a default secret."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from app.core.config import DEFAULT_SECRET_KEY, SecuritySettings, Settings


def test_nested_groups_come_from_double_underscore_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB__URL", "postgresql+psycopg://u@db:5432/x")
    monkeypatch.setenv("REDIS__URL", "redis://cache:6379/2")
    monkeypatch.setenv("SAM__CHECKPOINT", "/models/sam_vit_h.pth")
    monkeypatch.setenv("LIMITS__MAX_UPLOAD_BYTES", "1000")
    settings = Settings()
    assert settings.db.url == "postgresql+psycopg://u@db:5432/x"
    assert settings.redis.url == "redis://cache:6379/2"
    assert str(settings.sam.checkpoint) == "/models/sam_vit_h.pth"
    assert settings.limits.max_upload_bytes == 1000


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValidationError, match="SECURITY__SECRET_KEY"):
        Settings(mode="production")
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(mode="production", security=SecuritySettings(secret_key=SecretStr("short")))


def test_production_starts_with_a_real_secret_and_development_with_the_default() -> None:
    secret = "x" * 40
    assert (
        Settings(mode="production", security=SecuritySettings(secret_key=SecretStr(secret))).mode
        == "production"
    )
    assert Settings().security.secret_key.get_secret_value() == DEFAULT_SECRET_KEY


def test_bad_values_are_reported_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIMITS__MAX_UPLOAD_BYTES", "-5")
    with pytest.raises(ValidationError, match=r"limits\.max_upload_bytes"):
        Settings()
