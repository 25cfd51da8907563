"""SQL for labels: geometry repair and measures computed by PostGIS itself."""

from __future__ import annotations

from shapely import geometry as shp
from shapely import wkb
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.labels.geometry import MakeValid


def postgis_make_valid(session: Session) -> MakeValid:
    """ST_MakeValid with the 'structure' method, which keeps polygons polygons (holes stay holes),
    then only the polygonal part, as a MultiPolygon."""

    def make_valid(geometry: shp.MultiPolygon) -> shp.MultiPolygon:
        result = session.scalar(
            text(
                "SELECT ST_AsBinary(ST_Multi(ST_CollectionExtract("
                "ST_MakeValid(ST_GeomFromWKB(:g), 'method=structure'), 3)))"
            ),
            {"g": geometry.wkb},
        )
        repaired = wkb.loads(bytes(result))
        assert isinstance(repaired, shp.MultiPolygon)
        return repaired

    return make_valid


def geodesic_area_ha(session: Session, geometry_wgs84: shp.MultiPolygon) -> float:
    """Area on the ellipsoid (PostGIS geography), in hectares."""
    area = session.scalar(
        text("SELECT ST_Area(ST_GeomFromWKB(:g, 4326)::geography) / 10000.0"), {"g": geometry_wgs84.wkb}
    )
    return float(area or 0.0)
