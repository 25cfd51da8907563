"""GeoJSON and GeoPackage features as GDAL reads them, each checked on its own: a valid Polygon or
MultiPolygon, a class (``label_property`` through ``label_map``, a class of that name in any case, or
``default_label``), a date where ``date_property`` asks for one; carried to EPSG:4326 for matching and for
messages that say where things are in lon/lat."""

from __future__ import annotations

import math
import re
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import shapely
from pyogrio import raw
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError
from shapely.errors import GEOSException
from shapely.validation import explain_validity

from app.core.errors import InvalidInputError
from app.interop.imports import ClassNames, ImportContext, ImportProblem, ImportReport, reject
from app.interop.sniff import looks_like, sniff_file
from app.repositories.labels import postgis_make_valid

DRIVERS = {"geojson": ("GeoJSON", "GeoJSON file", "geojson"), "gpkg": ("GPKG", "GeoPackage", "gpkg")}
POLYGONAL = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)
PREFERRED_LAYER = "regions"
WGS84 = "EPSG:4326"
LISTED = 10  # values, dates or observations named one by one in a note
_YEAR = re.compile(r"^\d{4}$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def lonlat(bounds: tuple[float, float, float, float] | Any) -> str:
    """``lon -1.81234 to -1.60000, lat 6.10000 to 6.30000`` (5 decimals: about a metre)."""
    west, south, east, north = (float(v) for v in bounds)
    return f"lon {west:.5f} to {east:.5f}, lat {south:.5f} to {north:.5f}"


def refuse(message: str, what: str) -> InvalidInputError:
    return reject([ImportProblem(message)], what)


class Layer:
    """The file's features as GDAL reads them."""

    def __init__(self, path: Path, fmt: str, what: str, report: ImportReport) -> None:
        driver, _, extension = DRIVERS[fmt]
        # Beside the staged upload, so that a killed process leaves nothing the staging sweep misses.
        with tempfile.TemporaryDirectory(prefix="minelabel-gis-", dir=path.parent) as folder:
            # GDAL wants the format's extension (the upload is staged under a number): a link gives it.
            named = Path(folder) / f"upload.{extension}"
            named.symlink_to(path.resolve())
            source = f"{driver}:{named}"
            try:
                layers = pyogrio.list_layers(source)
                names = [str(name) for name, _ in layers]
                if not names:
                    raise refuse(f"the {what} holds no layer", what)
                layer = PREFERRED_LAYER if PREFERRED_LAYER in names else names[0]
                if len(names) > 1:
                    report.notes.append(
                        f"the file has {len(names)} layers ({', '.join(names[:10])}); "
                        f"layer {layer!r} was read"
                    )
                meta, _, geometries, field_data = raw.read(source, layer=layer, datetime_as_string=True)
            except (DataSourceError, DataLayerError) as exc:
                message = f"the file is not a {what} GDAL can read ({_first_line(exc)})"
                if (other := looks_like(sniff_file(path), fmt)) is not None:
                    message += f"; {other}"
                raise refuse(message, what) from exc
        self.layer = layer
        self.crs: str | None = meta.get("crs")
        self.geometries: np.ndarray[Any, Any] = geometries
        self.fields: dict[str, np.ndarray[Any, Any]] = dict(zip(meta["fields"], field_data, strict=True))

    def __len__(self) -> int:
        return len(self.geometries)

    def value(self, name: str, index: int) -> Any:
        """The feature's property, None when it has none (missing, null or NaN)."""
        column = self.fields.get(name)
        value: Any = column[index] if column is not None else None
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, str) and not value.strip():
            return None
        return value


def _first_line(exc: Exception) -> str:
    return str(exc).split(";")[0].strip()


def date_range(value: Any) -> tuple[date, date] | None:
    """A property's date as a range: an ISO date or date-time (one day), ``YYYY-MM`` (the month) or a year
    (``2017`` or 2017: the whole year); None when it is none of these."""
    if isinstance(value, np.integer | int) and not isinstance(value, bool):
        value = str(int(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = str(int(value))
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        if _YEAR.match(text):
            year = int(text)
            return date(year, 1, 1), date(year, 12, 31)
        if month := _MONTH.match(text):
            first = date(int(month[1]), int(month[2]), 1)
            following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            return first, following - timedelta(days=1)
        day = datetime.fromisoformat(text.replace("/", "-")).date()
    except ValueError:
        return None
    return day, day


@dataclass
class Feature:
    index: int
    label: str
    geometry: Any  # in the file's CRS
    lonlat: Any  # in EPSG:4326
    dates: tuple[date, date] | None = None


class FeatureReader:
    """Checks every feature of the layer on its own; problems and skips gather here for the whole import."""

    def __init__(self, ctx: ImportContext, layer: Layer, fmt: str) -> None:
        self.ctx, self.layer = ctx, layer
        self.options = ctx.options
        self.problems: list[ImportProblem] = []
        self.report_notes: list[str] = []
        self.skipped: Counter[str] = Counter()
        self.unknown_values: Counter[str] = Counter()
        self.classes = ClassNames(ctx.config.class_names, ctx.options.label_map)
        self.problems.extend(self.classes.problems())
        self.source_crs = layer.crs or (WGS84 if fmt == "geojson" else None)
        self.make_valid = postgis_make_valid(ctx.session)
        self._to_crs: dict[str, Transformer] = {}
        self.to_wgs84: Transformer | None = None
        if self.source_crs is None:
            self.problems.append(
                ImportProblem(
                    f"layer {layer.layer!r} has no coordinate reference system; set one (e.g. EPSG:4326) "
                    "in a GIS"
                )
            )
            return
        try:
            self.to_wgs84 = self.transformer(WGS84)
        except (CRSError, ProjError) as exc:
            self.problems.append(
                ImportProblem(f"cannot transform from the file's CRS {self.source_crs} to EPSG:4326: {exc}")
            )

    def transformer(self, crs: str) -> Transformer:
        """From the file's CRS to ``crs``; always_xy: x is the easting (longitude), as GIS files have it."""
        if crs not in self._to_crs:
            assert self.source_crs is not None
            self._to_crs[crs] = Transformer.from_crs(
                CRS.from_user_input(self.source_crs), CRS.from_user_input(crs), always_xy=True
            )
        return self._to_crs[crs]

    def problem(self, index: int, message: str) -> None:
        self.problems.append(ImportProblem(f"feature {index}: {message}", feature=index))

    def label(self, index: int) -> str | None:
        options = self.options
        value = self.layer.value(options.label_property, index)
        if value is None:
            if options.default_label is not None:
                return self.classes.resolve(options.default_label)  # None is reported once, by features()
            self.problem(
                index,
                f"no class: it has no {options.label_property!r} property; pass label_property=<the property "
                f"holding the class> or default_label=<one of {self.classes.classes}>",
            )
            return None
        text = str(value).strip()
        label = self.classes.resolve(text)
        if label is None:
            if options.unknown_classes == "skip":
                self.unknown_values[text] += 1
                return None
            self.problem(
                index,
                f"class {text!r} (property {options.label_property!r}) is not one of the project's classes "
                f"{self.classes.classes}; map it with label_map, or pass unknown_classes=skip",
            )
        return label

    def dates(self, index: int) -> tuple[date, date] | None:
        assert self.options.date_property is not None
        value = self.layer.value(self.options.date_property, index)
        found = date_range(value)
        if found is None:
            self.problem(
                index,
                f"property {self.options.date_property!r} (date_property) is "
                f"{'missing' if value is None else repr(value)}, not a date (2021-03-14), a month (2021-03) "
                "or a year",
            )
        return found

    def geometry(self, index: int, data: bytes | None) -> Any:
        """The feature's polygons in the file's CRS; None after a problem."""
        if data is None:
            self.problem(index, "it has no geometry")
            return None
        try:
            geometry = shapely.force_2d(shapely.from_wkb(data))
        except GEOSException as exc:
            self.problem(index, f"its geometry cannot be read ({exc})")
            return None
        if shapely.get_type_id(geometry) not in POLYGONAL:
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
        return geometry

    def moved(self, geometry: Any, transformer: Transformer) -> Any:
        def move(coords: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
            x, y = transformer.transform(coords[:, 0], coords[:, 1], errcheck=True)
            return np.column_stack([x, y])

        return shapely.transform(geometry, move)

    def features(self) -> list[Feature]:
        options, layer = self.options, self.layer
        found: list[Feature] = []
        default = options.default_label
        if default is not None and self.classes.resolve(default) is None:
            self.problems.append(
                ImportProblem(
                    f"default_label {default!r} is not one of the project's classes {self.classes.classes}"
                )
            )
        if options.date_property is not None and options.date_property not in layer.fields:
            self.problems.append(
                ImportProblem(
                    f"date_property {options.date_property!r} is not a property of layer {layer.layer!r} "
                    f"(its properties: {', '.join(list(layer.fields)[:20]) or 'none'})"
                )
            )
            return found
        if len(layer) == 0:
            self.problems.append(ImportProblem(f"layer {layer.layer!r} has no features"))
        if self.to_wgs84 is None:
            return found
        for index, data in enumerate(layer.geometries):
            label = self.label(index)
            geometry = self.geometry(index, data)
            dates = self.dates(index) if options.date_property is not None else None
            if geometry is None or label is None or (options.date_property is not None and dates is None):
                continue
            try:
                wgs84 = self.moved(geometry, self.to_wgs84)
            except ProjError as exc:
                self.problem(index, f"it cannot be transformed to EPSG:4326 ({exc})")
                continue
            if not np.isfinite(shapely.get_coordinates(wgs84)).all():
                self.problem(
                    index, "it cannot be transformed to EPSG:4326 (coordinates out of the CRS's range)"
                )
                continue
            found.append(Feature(index, label, geometry, wgs84, dates))
        if self.unknown_values:
            count = sum(self.unknown_values.values())
            self.skipped["unknown_class"] += count
            values = ", ".join(f"{v!r} ({n})" for v, n in self.unknown_values.most_common(LISTED))
            self.report_notes.append(
                f"{count} feature(s) whose class (property {options.label_property!r}) is not one of the "
                f"project's were skipped (unknown_classes=skip): {values}"
            )
        return found

    # -- features onto observations -----------------------------------------------------------------------
