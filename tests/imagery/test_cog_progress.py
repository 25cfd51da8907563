"""Progress moves inside one large image, and a conversion stopped mid-way (a cancel) leaves no files."""

from __future__ import annotations

from pathlib import Path

import pytest
from affine import Affine

from app.imagery.cog import make_cog
from tests.imagery.factories import write_geotiff, write_plain


class StopError(Exception):
    pass


def test_progress_moves_within_one_image_and_temporaries_stay_beside_the_cog(tmp_path: Path) -> None:
    source = tmp_path / "big.tif"
    write_geotiff(source, width=2048, height=2048, count=3)
    work = tmp_path / "scratch"
    work.mkdir()
    seen: list[float] = []
    make_cog(str(source), work / "cog.tif", on_progress=seen.append)
    inside = sorted({f for f in seen if 0 < f < 1})
    assert len(inside) >= 8, seen  # 16 blocks of 512 px: the bar moves block by block
    assert seen == sorted(seen)
    assert [p.name for p in work.iterdir()] == ["cog.tif"]


def test_georeferencing_from_a_sidecar_reports_its_copy_first(tmp_path: Path) -> None:
    source = tmp_path / "plain.png"
    write_plain(source, "PNG", width=1500, height=1200)
    seen: list[float] = []
    transform = Affine.translation(300_000, 7_000_000) * Affine.scale(10, -10)
    make_cog(
        str(source), tmp_path / "cog.tif", crs="EPSG:32719", transform=transform, on_progress=seen.append
    )
    copying = [f for f in seen if f <= 0.3]
    assert len(set(copying)) >= 3, seen  # 1200 rows copied in strips of 512
    assert max(seen) > 0.3


def test_a_conversion_stopped_mid_way_leaves_nothing(tmp_path: Path) -> None:
    source = tmp_path / "big.tif"
    write_geotiff(source, width=2048, height=2048, count=3)
    work = tmp_path / "scratch"
    work.mkdir()

    def stop_at_half(fraction: float) -> None:
        if fraction > 0.4:
            raise StopError

    with pytest.raises(StopError):
        make_cog(str(source), work / "cog.tif", on_progress=stop_at_half)
    assert list(work.iterdir()) == []
