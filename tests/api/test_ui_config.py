"""What the browser client learns about the installation, and the basemap's origin in the CSP."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.core.config import MapSettings, Settings
from app.main import create_app


def test_anyone_reads_the_basemap_and_sign_up_setting(anonymous_client: TestClient) -> None:
    response = anonymous_client.get("/api/ui-config")
    assert response.status_code == 200
    assert response.json() == {
        "basemap_url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "basemap_attribution": "© OpenStreetMap contributors",
        "allow_signup": False,
    }
    csp = response.headers["content-security-policy"]
    assert "img-src 'self' data: blob: https://tile.openstreetmap.org;" in csp
    assert "script-src 'self' 'wasm-unsafe-eval';" in csp


def test_another_basemap_is_allowed_in_the_csp_and_none_leaves_only_self(settings: Settings) -> None:
    own = settings.model_copy(
        update={
            "map": MapSettings(
                basemap_url="https://tiles.example.org/osm/{z}/{x}/{y}.png", basemap_attribution="us"
            ),
            "security": settings.security.model_copy(update={"allow_signup": True}),
        }
    )
    with TestClient(create_app(own)) as client:
        response = client.get("/api/ui-config")
    assert response.json()["basemap_url"] == "https://tiles.example.org/osm/{z}/{x}/{y}.png"
    assert response.json()["allow_signup"] is True
    assert (
        "img-src 'self' data: blob: https://tiles.example.org;" in response.headers["content-security-policy"]
    )

    off = settings.model_copy(update={"map": MapSettings(basemap_url="")})
    with TestClient(create_app(off)) as client:
        response = client.get("/api/ui-config")
    assert response.json()["basemap_url"] is None
    assert "img-src 'self' data: blob:;" in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    "url",
    [
        "tile.openstreetmap.org/{z}/{x}/{y}.png",
        "https://tiles.example.org/{z}/{x}.png",
        "ftp://x/{z}/{x}/{y}",
    ],
)
def test_a_basemap_url_must_be_an_http_xyz_template(url: str) -> None:
    with pytest.raises(ValidationError, match="MAP__BASEMAP_URL must be an http"):
        MapSettings(basemap_url=url)
