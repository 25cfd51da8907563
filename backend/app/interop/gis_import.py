"""GeoJSON and GeoPackage import: existing polygon datasets become one prediction or one annotation on each
georeferenced observation they cover.

GDAL (through pyogrio) reads the file and its CRS (GeoJSON without one is EPSG:4326, as RFC 7946 says); a
GeoPackage with several layers gives its ``regions`` layer (MineLabel's own export), else its first.

Targets: one observation (``observation_id``), or every georeferenced observation of a site (``site_id``)
or of the project (neither) whose footprint (EPSG:4326, in PostGIS) a feature overlaps; with
``date_property`` only those acquired on the feature's date (an ISO date, a month ``2021-03`` or a year,
``date_tolerance_days`` either side). Each feature is carried from the file's CRS to the observation's with
pyproj, then to pixels with the inverse of the observation's affine transform, where regions live. Its class
comes from the ``label_property`` property through ``label_map``, else a class of that name (any case), else
``default_label``.

Every feature is checked first: a Polygon or MultiPolygon, valid, with a known class. ``outside`` says what
happens to the others: ``skip`` (the default) skips features that touch no target image and clips those
that cross an edge, counting both in the report; ``clip`` clips but refuses features wholly outside;
``fail`` refuses any feature not wholly inside. One problem rejects the whole file, naming every bad feature
by its index (0-based), and nothing is stored; where a feature or the file lies is said in lon/lat. Each
observation's import remembers a key made from the file's bytes and the options that shape the result, so
importing the same file again adds nothing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import shapely

from app.interop.gis_features import DRIVERS, LISTED, Feature, FeatureReader, Layer, lonlat, refuse
from app.interop.gis_placement import Placement, Placer, find_targets
from app.interop.import_store import store_imported
from app.interop.imports import (
    ImportContext,
    ImportFormat,
    ImportReport,
    imported_before,
    register,
    reject,
)
from app.models.annotation import Annotation, Prediction

_OPTIONS = frozenset(
    {
        "observation_id",
        "site_id",
        "label_property",
        "default_label",
        "label_map",
        "unknown_classes",
        "outside",
        "date_property",
        "date_tolerance_days",
        "model_version",
    }
)


def import_key(content_hash: bytes, ctx: ImportContext) -> str:
    """What makes two imports the same: the file's bytes, what it becomes, how classes and dates are read.

    Options left at their defaults add nothing, so keys of imports made before those options stay valid.
    """
    options = ctx.options
    parts = [options.as_, options.label_property, options.default_label or ""]
    if options.label_map:
        parts.append(orjson.dumps(options.label_map, option=orjson.OPT_SORT_KEYS).decode())
    if options.date_property is not None:
        parts.extend([options.date_property, str(options.date_tolerance_days)])
    return hashlib.sha256(content_hash + b"\0" + "\0".join(parts).encode()).hexdigest()


def _file_hash(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.digest()


def import_gis(ctx: ImportContext, path: Path, fmt: str) -> ImportReport:
    what = DRIVERS[fmt][1]
    report = ImportReport(format=fmt)
    layer = Layer(path, fmt, what, report)
    targets = find_targets(ctx, what)
    report.items_read = len(layer)
    reader = FeatureReader(ctx, layer, fmt)
    features = reader.features()
    placer = Placer(reader, targets)
    placements = placer.place(features)
    if reader.problems:
        problems = sorted(reader.problems, key=lambda p: -1 if p.feature is None else p.feature)
        raise reject(problems, what)
    if not placements:
        raise refuse(_nothing_placed(placer, layer, features), what)
    key = import_key(_file_hash(path), ctx)
    as_predictions = ctx.options.as_ == "predictions"
    model = Prediction if as_predictions else Annotation
    session = ctx.session
    before = []
    for placement in placements:
        observation = placement.observation
        if imported_before(session, model, observation.id, key):
            report.skipped_as_imported_before += len(placement.regions)
            before.append(observation.original_filename)
            continue
        store_imported(ctx, observation, placement.regions, key, report)
        report.regions_created += len(placement.regions)
    _notes(report, placer, layer, placements, before)
    session.flush()
    return report


def _nothing_placed(placer: Placer, layer: Layer, features: list[Feature]) -> str:
    """Why no feature landed anywhere (outside=skip), with the file's extent and the targets' in lon/lat."""
    count = f"none of the file's {len(layer)} feature(s) landed on {placer.targets.scope}"
    if not features:
        return f"{count}: {'; '.join(placer.reader.report_notes) or 'it has none that can be imported'}"
    reasons = []
    if away := placer.reader.skipped["outside_image"]:
        reasons.append(f"{away} touch none of its images")
    if dated := placer.reader.skipped["no_matching_date"]:
        reasons.append(f"{dated} lie on its images but none acquired on their date ({placer.acquired()})")
    extent = lonlat(shapely.total_bounds([f.lonlat for f in features]))
    return (
        f"{count}: {'; '.join(reasons)}. The file spans {extent}, and {placer.where()}: is it the right "
        "target, and the file's CRS right?"
    )


def _notes(
    report: ImportReport, placer: Placer, layer: Layer, placements: list[Placement], before: list[str]
) -> None:
    targets = placer.targets
    placed = len({index for p in placements for index in p.features})
    if targets.single:
        observation = targets.observations[0]
        report.notes.append(
            f"{placed} polygon feature(s) of layer {layer.layer!r} carried from {placer.reader.source_crs} "
            f"to the observation's {observation.crs}, then to pixels"
        )
    else:
        listed = ", ".join(
            f"{p.observation.original_filename} ({len(p.regions)})" for p in placements[:LISTED]
        )
        more = f" and {len(placements) - LISTED} more" if len(placements) > LISTED else ""
        report.notes.append(
            f"{placed} polygon feature(s) of layer {layer.layer!r} placed on {len(placements)} "
            f"observation(s) of {targets.scope} whose footprint they overlap, carried from "
            f"{placer.reader.source_crs} to each one's CRS, then to pixels: {listed}{more}"
        )
    report.notes.extend(placer.reader.report_notes)
    for reason, count in placer.reader.skipped.items():
        report.skip(reason, count)
    if placer.clipped:
        report.clipped = placer.clipped
        report.notes.append(
            f"{placer.clipped} feature(s) reached past the image's edge and were clipped to it"
        )
    if before:
        report.notes.append(
            f"this file was imported onto {len(before)} of these observation(s) before ("
            f"{', '.join(before[:LISTED])}), as {placer.reader.options.as_} with the same class and date "
            "settings: nothing was added there"
        )


def import_geojson(ctx: ImportContext, path: Path) -> ImportReport:
    return import_gis(ctx, path, "geojson")


def import_geopackage(ctx: ImportContext, path: Path) -> ImportReport:
    return import_gis(ctx, path, "gpkg")


register(
    ImportFormat(
        name="geojson",
        importer=import_geojson,
        description="GeoJSON polygons onto georeferenced observations (observation_id, site_id or the whole "
        "project, by footprint and optionally date_property), one prediction or annotation each; class "
        "from label_property through label_map, or default_label",
        options=_OPTIONS,
    )
)
register(
    ImportFormat(
        name="gpkg",
        importer=import_geopackage,
        description="GeoPackage polygons (its 'regions' layer, else the first) onto georeferenced "
        "observations, like geojson",
        options=_OPTIONS,
    )
)
