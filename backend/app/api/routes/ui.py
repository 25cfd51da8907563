"""What the browser client needs to know about this installation (no secrets: anyone may read it)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api.deps import SettingsDep

router = APIRouter(prefix="/api/ui-config", tags=["ui"])


class UiConfig(BaseModel):
    basemap_url: str | None = Field(description="XYZ template of the basemap; null: none is configured.")
    basemap_attribution: str
    allow_signup: bool = Field(description="Whether the sign-in page offers to create an account.")


@router.get("", response_model=UiConfig, summary="Settings for the browser client (basemap, sign-up)")
def ui_config(settings: SettingsDep) -> UiConfig:
    return UiConfig(
        basemap_url=settings.map.basemap_url or None,
        basemap_attribution=settings.map.basemap_attribution,
        allow_signup=settings.security.allow_signup,
    )
