"""GeoJSON and GeoPackage import: existing polygon datasets become one prediction or one annotation of a
georeferenced observation.

GDAL (through pyogrio) reads the file and its CRS (GeoJSON without one is EPSG:4326, as RFC 7946 says); a
GeoPackage with several layers gives its ``regions`` layer (MineLabel's own export), else its first. Each
feature is carried from the file's CRS to the observation's with pyproj, then to pixels with the inverse
of the observation's affine transform, where regions live. Its class comes from the ``label_property``
property, else ``default_label``.

Every feature is checked first: a Polygon or MultiPolygon, valid, with a known class, and (at least partly)
on the image; features reaching past the image's edge are clipped to it, and the report says how many. One
problem rejects the whole file, naming every bad feature by its index (0-based), and nothing is stored.
The import remembers a key made from the file's bytes and the options that shape the result, so importing
the same file again onto the same observation adds nothing.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import shapely
from pyogrio import raw
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError
from rasterio import Affine
from shapely import geometry as shp
from shapely.errors import GEOSException
from shapely.validation import explain_validity

from app.core.errors import InvalidInputError
from app.interop.imports import (
    ImportContext,
    ImportFormat,
    ImportProblem,
    ImportReport,
    imported_before,
    register,
    reject,
)
from app.labels.geometry import check_region_geometry
from app.models.annotation import Annotation, Prediction, RegionSource
from app.models.observation import Observation
from app.repositories.labels import postgis_make_valid
from app.services import annotations as annotation_service
from app.services import predictions as prediction_service

_DRIVERS = {"geojson": ("GeoJSON", "GeoJSON file", "geojson"), "gpkg": ("GPKG", "GeoPackage", "gpkg")}
_POLYGONAL = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)
PREFERRED_LAYER = "regions"


def import_key(content_hash: bytes, ctx: ImportContext) -> str:
    """What makes two imports the same: the file's bytes, what it becomes, and how classes are read."""
    options = ctx.options
    settings = "\0".join([options.as_, options.label_property, options.default_label or ""])
    return hashlib.sha256(content_hash + b"\0" + settings.encode()).hexdigest()


def _file_hash(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.digest()


def _observation(ctx: ImportContext, what: str) -> Observation:
    options = ctx.options
    if options.observation_id is None:
        raise reject(
            [
                ImportProblem(
                    "pass observation_id=<id>: the id of the georeferenced observation (image) of this "
                    "project to put the file's polygons on"
                )
            ],
            what,
        )
    observation = ctx.session.get(Observation, options.observation_id)
    if observation is None or observation.project_id != ctx.project.id:
        raise reject(
            [
                ImportProblem(
                    f"observation {options.observation_id} is not an observation of this project; pass "
                    "observation_id of one of its images"
                )
            ],
            what,
        )
    if not observation.crs or not observation.transform:
        raise reject(
            [
                ImportProblem(
                    f"observation {observation.id} ({observation.original_filename}) is not "
                    "georeferenced (no CRS and transform), so map coordinates cannot be placed on it; "
                    "pass the observation_id of a georeferenced image, or import Label Studio JSON "
                    "(pixel coordinates) instead"
                )
            ],
            what,
        )
    return observation


class _Layer:
    """The file's features as GDAL reads them."""

    def __init__(self, path: Path, fmt: str, what: str, report: ImportReport) -> None:
        driver, _, extension = _DRIVERS[fmt]
        with tempfile.TemporaryDirectory(prefix="minelabel-gis-") as folder:
            # GDAL wants the format's extension (the upload is staged under a number): a link gives it.
            named = Path(folder) / f"upload.{extension}"
            named.symlink_to(path.resolve())
            source = f"{driver}:{named}"
            try:
                layers = pyogrio.list_layers(source)
                names = [str(name) for name, _ in layers]
                if not names:
                    raise reject([ImportProblem(f"the {what} holds no layer")], what)
                layer = PREFERRED_LAYER if PREFERRED_LAYER in names else names[0]
                if len(names) > 1:
                    report.notes.append(
                        f"the file has {len(names)} layers ({', '.join(names[:10])}); "
                        f"layer {layer!r} was read"
                    )
                meta, _, geometries, field_data = raw.read(source, layer=layer, datetime_as_string=True)
            except (DataSourceError, DataLayerError) as exc:
                raise reject(
                    [ImportProblem(f"the file is not a {what} GDAL can read ({_first_line(exc)})")], what
                ) from exc
        self.layer = layer
        self.crs: str | None = meta.get("crs")
        self.geometries: np.ndarray[Any, Any] = geometries
        self.fields: dict[str, np.ndarray[Any, Any]] = dict(zip(meta["fields"], field_data, strict=True))

    def __len__(self) -> int:
        return len(self.geometries)


def _first_line(exc: Exception) -> str:
    return str(exc).split(";")[0].strip()


class _Reader:
    """Checks every feature and turns the good ones into pixel-space regions."""

    def __init__(self, ctx: ImportContext, observation: Observation, layer: _Layer, fmt: str) -> None:
        self.ctx, self.observation, self.layer = ctx, observation, layer
        self.problems: list[ImportProblem] = []
        self.clipped = 0
        self.image = shp.box(0, 0, observation.width, observation.height)
        self.classes = ctx.config.class_names
        source_crs = layer.crs or ("EPSG:4326" if fmt == "geojson" else None)
        self.source_crs = source_crs
        self.transformer: Transformer | None = None
        assert observation.transform is not None and observation.crs is not None
        self.to_pixels = ~Affine(*observation.transform[:6])
        if source_crs is None:
            self.problems.append(
                ImportProblem(
                    f"layer {layer.layer!r} has no coordinate reference system; set one (e.g. EPSG:4326) "
                    "in a GIS"
                )
            )
            return
        try:
            # always_xy: x is the easting (longitude), as GIS files store it.
            self.transformer = Transformer.from_crs(
                CRS.from_user_input(source_crs), CRS.from_user_input(observation.crs), always_xy=True
            )
        except (CRSError, ProjError) as exc:
            self.problems.append(
                ImportProblem(
                    f"cannot transform from the file's CRS {source_crs} to the observation's "
                    f"{observation.crs}: {exc}"
                )
            )

    def problem(self, index: int, message: str) -> None:
        self.problems.append(ImportProblem(f"feature {index}: {message}", feature=index))

    def label(self, index: int) -> str | None:
        options = self.ctx.options
        column = self.layer.fields.get(options.label_property)
        value: Any = column[index] if column is not None else None
        if isinstance(value, float) and math.isnan(value):
            value = None
        if value is None or (isinstance(value, str) and not value.strip()):
            if options.default_label is not None:
                if options.default_label not in self.classes:
                    return None  # reported once, by read()
                return options.default_label
            self.problem(
                index,
                f"no class: it has no {options.label_property!r} property; pass label_property=<the property "
                f"holding the class> or default_label=<one of {self.classes}>",
            )
            return None
        text = str(value).strip()
        if text not in self.classes:
            self.problem(
                index,
                f"class {text!r} (property {options.label_property!r}) is not one of the project's "
                f"classes {self.classes}",
            )
            return None
        return text

    def pixels(self, geometry: Any) -> Any:
        transformer, inverse = self.transformer, self.to_pixels
        assert transformer is not None

        def move(coords: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
            x, y = transformer.transform(coords[:, 0], coords[:, 1], errcheck=True)
            columns = inverse.a * x + inverse.b * y + inverse.c
            rows = inverse.d * x + inverse.e * y + inverse.f
            return np.column_stack([columns, rows])

        return shapely.transform(geometry, move)

    def read(self) -> list[annotation_service.RegionInput]:
        regions: list[annotation_service.RegionInput] = []
        default = self.ctx.options.default_label
        if default is not None and default not in self.classes:
            self.problems.append(
                ImportProblem(f"default_label {default!r} is not one of the project's classes {self.classes}")
            )
        if len(self.layer) == 0:
            self.problems.append(ImportProblem(f"layer {self.layer.layer!r} has no features"))
        if self.transformer is None:
            return regions
        observation = self.observation
        make_valid = postgis_make_valid(self.ctx.session)
        for index, data in enumerate(self.layer.geometries):
            label = self.label(index)
            geometry = self.geometry(index, data)
            if geometry is None or label is None:
                continue
            try:
                # Numerical slivers from the reprojection are repaired; the file's own shapes were valid.
                checked = check_region_geometry(
                    shp.mapping(geometry),
                    region=f"of feature {index}",
                    width=observation.width,
                    height=observation.height,
                    max_vertices=self.ctx.limits.max_polygon_vertices,
                    repair=True,
                    make_valid=make_valid,
                )
            except InvalidInputError as exc:
                self.problems.append(ImportProblem(str(exc), feature=index))
                continue
            regions.append(
                annotation_service.RegionInput(
                    label=label, geometry=shp.mapping(checked.geometry), source=RegionSource.IMPORT
                )
            )
        return regions

    def geometry(self, index: int, data: bytes | None) -> Any:
        """The feature's polygons in pixel space, clipped to the image; None after a problem."""
        if data is None:
            self.problem(index, "it has no geometry")
            return None
        try:
            geometry = shapely.force_2d(shapely.from_wkb(data))
        except GEOSException as exc:
            self.problem(index, f"its geometry cannot be read ({exc})")
            return None
        if shapely.get_type_id(geometry) not in _POLYGONAL:
            self.problem(
                index, f"it is a {geometry.geom_type}; only Polygon and MultiPolygon features can be imported"
            )
            return None
        if geometry.is_empty:
            self.problem(index, "its geometry is empty")
            return None
        if not geometry.is_valid:
            self.problem(
                index,
                f"it is not a valid polygon ({explain_validity(geometry)}); fix it first (e.g. "
                "QGIS: Vector > Geometry Tools > Fix Geometries)",
            )
            return None
        try:
            pixels = self.pixels(geometry)
        except ProjError as exc:
            self.problem(
                index, f"it cannot be transformed to the observation's CRS {self.observation.crs} ({exc})"
            )
            return None
        if not np.isfinite(shapely.get_coordinates(pixels)).all():
            self.problem(index, f"it cannot be transformed to the observation's CRS {self.observation.crs}")
            return None
        if not pixels.intersects(self.image) or pixels.intersection(self.image).area == 0:
            x0, y0, x1, y1 = pixels.bounds
            self.problem(
                index,
                f"it lies wholly outside the image (its pixel bounds are {x0:.0f}, {y0:.0f} to "
                f"{x1:.0f}, {y1:.0f}; the image is {self.observation.width} x {self.observation.height} "
                "px): is it the right observation, and the file's CRS right?",
            )
            return None
        if not self.image.covers(pixels):
            polygons = [
                g
                for g in shapely.get_parts(pixels.intersection(self.image))
                if shapely.get_type_id(g) in _POLYGONAL and g.area > 0
            ]
            pixels = shp.MultiPolygon([p for g in polygons for p in shapely.get_parts(g)])
            self.clipped += 1
        return pixels


def import_gis(ctx: ImportContext, path: Path, fmt: str) -> ImportReport:
    what = _DRIVERS[fmt][1]
    report = ImportReport(format=fmt)
    observation = _observation(ctx, what)
    layer = _Layer(path, fmt, what, report)
    report.items_read = len(layer)
    key = import_key(_file_hash(path), ctx)
    model = Prediction if ctx.options.as_ == "predictions" else Annotation
    session = ctx.session
    if imported_before(session, model, observation.id, key):
        report.skipped_as_imported_before = len(layer)
        report.notes.append(
            f"this file was imported onto observation {observation.id} before, as "
            f"{ctx.options.as_} with the same class settings: nothing was added"
        )
        return report
    reader = _Reader(ctx, observation, layer, fmt)
    regions = reader.read()
    if reader.problems:
        raise reject(reader.problems, what)
    if ctx.options.as_ == "predictions":
        prediction_service.create_prediction(
            session,
            observation,
            ctx.options.model_version,
            None,
            regions,
            ctx.limits,
            commit=False,
            import_key=key,
        )
        report.predictions_created = 1
    else:
        annotation_service.create_annotation(
            session, observation, regions, ctx.limits, user_id=ctx.importer_id, commit=False, import_key=key
        )
        report.annotations_created = 1
    report.regions_created = len(regions)
    report.notes.append(
        f"{len(regions)} polygon feature(s) of layer {layer.layer!r} carried from "
        f"{reader.source_crs} to the observation's {observation.crs}, then to pixels"
    )
    if reader.clipped:
        report.notes.append(
            f"{reader.clipped} feature(s) reached past the image's edge and were clipped to it"
        )
    session.flush()
    return report


def import_geojson(ctx: ImportContext, path: Path) -> ImportReport:
    return import_gis(ctx, path, "geojson")


def import_geopackage(ctx: ImportContext, path: Path) -> ImportReport:
    return import_gis(ctx, path, "gpkg")


register(
    ImportFormat(
        name="geojson",
        importer=import_geojson,
        description="GeoJSON polygons onto one georeferenced observation (observation_id), as one prediction "
        "or one annotation; class from label_property or default_label",
    )
)
register(
    ImportFormat(
        name="gpkg",
        importer=import_geopackage,
        description="GeoPackage polygons (its 'regions' layer, else the first) onto one georeferenced "
        "observation, like geojson",
    )
)
