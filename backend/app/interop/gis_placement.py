"""Where GIS features go: the target observations (one, a site's or the project's georeferenced ones),
each feature on every target whose footprint it overlaps (PostGIS, EPSG:4326) and, with ``date_property``,
that was acquired on its date; then in each one's pixel space, clipped, skipped or refused per ``outside``."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import shapely
from geoalchemy2.shape import to_shape
from pyproj.exceptions import ProjError
from rasterio import Affine
from shapely import geometry as shp

from app.core.errors import InvalidInputError
from app.imagery.georef import footprint_wgs84
from app.interop.gis_features import LISTED, POLYGONAL, Feature, FeatureReader, lonlat, refuse
from app.interop.imports import ImportContext, ImportProblem
from app.labels.geometry import check_region_geometry
from app.models.annotation import RegionSource
from app.models.observation import Observation
from app.models.project import Site
from app.repositories import imagery as imagery_repo
from app.services import annotations as annotation_service


def footprint(observation: Observation) -> Any:
    """The observation's outline in EPSG:4326: the stored footprint, else made from its CRS and transform."""
    if observation.footprint is not None:
        return to_shape(observation.footprint)
    assert observation.crs is not None and observation.transform is not None
    polygon = footprint_wgs84(
        observation.crs, Affine(*observation.transform[:6]), observation.width, observation.height
    )
    return shp.shape(polygon)


@dataclass
class Targets:
    """The observations the file's features may go to, and how to name them in messages."""

    observations: list[Observation]
    scope: str  # "observation 0854_000.png", "site 0854", "the project"
    single: bool  # one observation named by observation_id: every feature is a candidate for it


def find_targets(ctx: ImportContext, what: str) -> Targets:
    options, session = ctx.options, ctx.session
    if options.observation_id is not None:
        observation = session.get(Observation, options.observation_id)
        if observation is None or observation.project_id != ctx.project.id:
            raise refuse(
                f"observation {options.observation_id} is not an observation of this project; pass "
                "observation_id of one of its images (or site_id, or neither for the whole project)",
                what,
            )
        if not observation.crs or not observation.transform:
            raise refuse(
                f"observation {observation.id} ({observation.original_filename}) is not georeferenced (no "
                "CRS and transform), so map coordinates cannot be placed on it; pass the observation_id "
                "of a georeferenced image, or import Label Studio JSON or COCO (pixel coordinates) instead",
                what,
            )
        return Targets([observation], f"observation {observation.original_filename}", single=True)
    scope = "the project"
    if options.site_id is not None:
        site = session.get(Site, options.site_id)
        if site is None or site.project_id != ctx.project.id:
            raise refuse(f"site {options.site_id} is not a site of this project; pass site_id of one", what)
        scope = f"site {site.name}"
    found = list(imagery_repo.georeferenced_observations(session, ctx.project.id, options.site_id))
    with_footprint = [o for o in found if o.footprint is not None]
    if not with_footprint:
        what_lacks = "georeferenced observation with a footprint" if found else "georeferenced observation"
        raise refuse(
            f"{scope} has no {what_lacks} to put map coordinates on; upload georeferenced images (a GeoTIFF, "
            "or a sidecar with centre and extent), or pass observation_id=<id> of one",
            what,
        )
    return Targets(with_footprint, scope, single=False)


@dataclass
class Placement:
    """The features one observation receives, in its pixel space."""

    observation: Observation
    regions: list[annotation_service.RegionInput] = field(default_factory=list)
    features: list[int] = field(default_factory=list)


class Placer:
    """Puts the checked features onto the targets, adding its problems and skips to the reader's."""

    def __init__(self, reader: FeatureReader, targets: Targets) -> None:
        self.reader, self.targets = reader, targets
        self.ctx, self.options = reader.ctx, reader.options
        self.clipped = 0

    def problem(self, index: int, message: str) -> None:
        self.reader.problem(index, message)

    def candidates(self, features: list[Feature]) -> dict[uuid.UUID, list[Feature]]:
        """Observation id -> the features that may lie on it (the footprint test, in EPSG:4326)."""
        observations = self.targets.observations
        if self.targets.single:
            return {observations[0].id: list(features)}
        pairs = imagery_repo.footprint_overlaps(
            self.ctx.session, [o.id for o in observations], [shapely.to_wkb(f.lonlat) for f in features]
        )
        found: dict[uuid.UUID, list[Feature]] = defaultdict(list)
        for position, observation_id in pairs:
            found[observation_id].append(features[position])
        return found

    def on_date(self, feature: Feature, observation: Observation) -> bool:
        if feature.dates is None:
            return True
        if observation.acquired_on is None:
            return False
        tolerance = timedelta(days=self.options.date_tolerance_days)
        first, last = feature.dates
        return first - tolerance <= observation.acquired_on <= last + tolerance

    def pixels(self, geometry: Any, observation: Observation) -> Any:
        assert observation.crs is not None and observation.transform is not None
        moved = self.reader.moved(geometry, self.reader.transformer(observation.crs))
        inverse = ~Affine(*observation.transform[:6])

        def to_pixels(coords: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
            x, y = coords[:, 0], coords[:, 1]
            return np.column_stack(
                [inverse.a * x + inverse.b * y + inverse.c, inverse.d * x + inverse.e * y + inverse.f]
            )

        return shapely.transform(moved, to_pixels)

    def place(self, features: list[Feature]) -> list[Placement]:
        """Each feature onto every target image it covers; what lands nowhere is skipped or refused."""
        outside = self.options.outside
        by_id = {o.id: o for o in self.targets.observations}
        candidates = self.candidates(features)
        placements: dict[uuid.UUID, Placement] = {}
        landed: Counter[int] = Counter()
        dated_out: set[int] = set()
        crossing: set[int] = set()
        for observation_id, found in candidates.items():
            observation = by_id[observation_id]
            image = shp.box(0, 0, observation.width, observation.height)
            for feature in found:
                try:
                    pixels = self.pixels(feature.geometry, observation)
                except ProjError as exc:
                    message = f"it cannot be transformed to the observation's CRS {observation.crs} ({exc})"
                    self.problem(feature.index, message)
                    continue
                if not np.isfinite(shapely.get_coordinates(pixels)).all():
                    self.problem(
                        feature.index, f"it cannot be transformed to the observation's CRS {observation.crs}"
                    )
                    continue
                if not pixels.intersects(image) or pixels.intersection(image).area == 0:
                    continue  # it only touches the footprint's outline, or the footprint's densified edge
                if not self.on_date(feature, observation):
                    dated_out.add(feature.index)
                    continue
                if not image.covers(pixels):
                    if outside == "fail":
                        crossing.add(feature.index)
                        self.problem(
                            feature.index,
                            f"it crosses the edge of {observation.original_filename}'s image (the feature "
                            f"spans {lonlat(feature.lonlat.bounds)}; the image covers "
                            f"{lonlat(footprint(observation).bounds)}); pass outside=clip to cut it to the "
                            "image",
                        )
                        continue
                    pixels = shp.MultiPolygon(
                        [
                            p
                            for g in shapely.get_parts(pixels.intersection(image))
                            if shapely.get_type_id(g) in POLYGONAL and g.area > 0
                            for p in shapely.get_parts(g)
                        ]
                    )
                    crossing.add(feature.index)
                region = self.region(feature, pixels, observation)
                if region is None:
                    continue
                placement = placements.setdefault(observation.id, Placement(observation))
                placement.regions.append(region)
                placement.features.append(feature.index)
                landed[feature.index] += 1
        self.clipped = len(crossing) if outside != "fail" else 0
        nowhere = [f for f in features if not landed[f.index] and f.index not in crossing]
        self.nowhere(nowhere, dated_out)
        return [placements[o.id] for o in self.targets.observations if o.id in placements]

    def region(self, feature: Feature, pixels: Any, observation: Observation) -> Any:
        try:
            # Numerical slivers from the reprojection are repaired; the file's own shapes were valid.
            checked = check_region_geometry(
                shp.mapping(pixels),
                region=f"of feature {feature.index}",
                width=observation.width,
                height=observation.height,
                max_vertices=self.ctx.limits.max_polygon_vertices,
                repair=True,
                make_valid=self.reader.make_valid,
            )
        except InvalidInputError as exc:
            self.reader.problems.append(ImportProblem(str(exc), feature=feature.index))
            return None
        return annotation_service.RegionInput(
            label=feature.label, geometry=shp.mapping(checked.geometry), source=RegionSource.IMPORT
        )

    def nowhere(self, features: list[Feature], dated_out: set[int]) -> None:
        """Features that landed on no observation: off the date (always skipped), or outside (per outside)."""
        outside = self.options.outside
        targets = self.targets
        off_date = [f for f in features if f.index in dated_out]
        away = [f for f in features if f.index not in dated_out]
        if off_date:
            self.reader.skipped["no_matching_date"] += len(off_date)
            self.reader.report_notes.append(
                f"{len(off_date)} feature(s) lie on {targets.scope} but on no image acquired on their date; "
                f"skipped ({self.acquired()})"
            )
        if not away:
            return
        where = self.where()
        if outside == "skip":
            self.reader.skipped["outside_image"] += len(away)
            extent = shapely.total_bounds([f.lonlat for f in away])
            self.reader.report_notes.append(
                f"{len(away)} feature(s) touch no image of {targets.scope} and were skipped (outside=skip): "
                f"they span {lonlat(extent)}; {where}"
            )
            return
        place = f"the image of {targets.scope}" if targets.single else f"every image of {targets.scope}"
        for feature in away:
            self.problem(
                feature.index,
                f"it lies wholly outside {place} (the feature spans {lonlat(feature.lonlat.bounds)}; "
                f"{where}): is it the right target, and the file's CRS right? Pass outside=skip to skip "
                "such features",
            )

    def acquired(self) -> str:
        """The date rule and the targets' acquisition dates, for messages."""
        dates = sorted({str(o.acquired_on) for o in self.targets.observations if o.acquired_on})
        return (
            f"property {self.options.date_property!r}, +/- {self.options.date_tolerance_days} day(s); "
            f"acquired on {', '.join(dates[:LISTED]) or 'no date'}"
        )

    def where(self) -> str:
        """Where the target images lie, in lon/lat."""
        observations = self.targets.observations
        extent = shapely.total_bounds([footprint(o) for o in observations])
        if self.targets.single:
            return f"the image covers {lonlat(extent)}"
        return f"its {len(observations)} georeferenced image(s) cover {lonlat(extent)}"
