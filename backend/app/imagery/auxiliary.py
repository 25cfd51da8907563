"""Files that travel beside a plain image: world files (.pgw, .jgw, .wld), .prj (WKT) and GDAL's
``<image>.aux.xml`` (its SRS and GeoTransform); which image each belongs to, and where they place it.

They are matched by name as GIS tools write them: ``scene.pgw`` (PNG), ``scene.jgw`` (JPEG) and
``scene.wld`` (any image) and ``scene.prj`` by the image's stem, ``scene.png.aux.xml`` by its whole name. They
never become observations. Parsing is pure: bytes in, a CRS and a transform out, or AuxiliaryFileError.
"""

from __future__ import annotations

import enum
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from affine import Affine
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from app.core.errors import InvalidInputError
from app.imagery.georef import Georeference, GeoreferenceError, parse_crs, same_crs, world_file_transform

MAX_AUXILIARY_BYTES = 1 << 20
PAM_SUFFIX = ".aux.xml"
# World file suffix -> the image suffixes it may go with (None: any).
WORLD_FILE_SUFFIXES: dict[str, frozenset[str] | None] = {
    ".pgw": frozenset({".png"}),
    ".jgw": frozenset({".jpg", ".jpeg"}),
    ".wld": None,
}


class AuxiliaryKind(enum.StrEnum):
    WORLD_FILE = "world_file"
    PRJ = "prj"
    PAM = "aux_xml"


class AuxiliaryFileError(InvalidInputError):
    code = "auxiliary_file_invalid"


class AuxiliaryUnusedError(InvalidInputError):
    code = "auxiliary_file_unused"


@dataclass(frozen=True)
class AuxiliaryFile:
    name: str
    kind: AuxiliaryKind
    content: bytes


@dataclass
class Auxiliaries:
    """Auxiliary files by the image they belong to, and those that belong to none of the images."""

    by_image: dict[str, list[AuxiliaryFile]] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)


def auxiliary_kind(name: str) -> AuxiliaryKind | None:
    """The kind of an auxiliary file by its name, or None for anything else (an image, say)."""
    lower = name.lower()
    if lower.endswith(PAM_SUFFIX):
        return AuxiliaryKind.PAM
    suffix = PurePosixPath(lower).suffix
    if suffix in WORLD_FILE_SUFFIXES:
        return AuxiliaryKind.WORLD_FILE
    if suffix == ".prj":
        return AuxiliaryKind.PRJ
    return None


def match_auxiliaries(image_names: list[str], files: list[AuxiliaryFile]) -> Auxiliaries:
    """Which image each auxiliary file goes with (a .prj of a stem shared by two images goes with both)."""
    by_stem: dict[str, list[str]] = defaultdict(list)
    for image in image_names:
        by_stem[PurePosixPath(image).stem].append(image)
    matched = Auxiliaries()
    for aux in files:
        owners = _owners(aux, image_names, by_stem)
        if not owners:
            matched.unmatched.append(aux.name)
        for owner in owners:
            matched.by_image.setdefault(owner, []).append(aux)
    return matched


def _owners(aux: AuxiliaryFile, images: list[str], by_stem: dict[str, list[str]]) -> list[str]:
    if aux.kind is AuxiliaryKind.PAM:
        owner = aux.name[: -len(PAM_SUFFIX)]
        return [owner] if owner in images else []
    path = PurePosixPath(aux.name)
    candidates = by_stem.get(path.stem, [])
    if aux.kind is AuxiliaryKind.PRJ:
        return candidates
    allowed = WORLD_FILE_SUFFIXES[path.suffix.lower()]
    return [c for c in candidates if allowed is None or PurePosixPath(c).suffix.lower() in allowed]


def georeference_of(
    image_name: str, files: list[AuxiliaryFile], sidecar_crs: str | None
) -> tuple[Georeference | None, list[str]]:
    """Where the auxiliary files place ``image_name``, and the names of those that placed nothing.

    The transform comes from the world file(s) or the .aux.xml GeoTransform (they must agree); the CRS from
    the .prj or .aux.xml SRS (they must agree), else the sidecar's ``crs``.

    Raises:
        AuxiliaryFileError: a file that cannot be read, two that disagree, or a transform without a CRS.
    """
    transforms: list[tuple[str, Affine]] = []
    crss: list[tuple[str, str]] = []
    for aux in files:
        text = _text(aux)
        if aux.kind is AuxiliaryKind.WORLD_FILE:
            transforms.append((aux.name, parse_world_file(text, aux.name)))
        elif aux.kind is AuxiliaryKind.PRJ:
            crss.append((aux.name, _crs(text, aux.name)))
        else:
            srs, geotransform = parse_pam(text, aux.name)
            if srs is not None:
                crss.append((aux.name, srs))
            if geotransform is not None:
                transforms.append((aux.name, geotransform))
    if not transforms:
        return None, [aux.name for aux in files]
    first_name, transform = transforms[0]
    for name, other in transforms[1:]:
        if not transform.almost_equals(other, precision=1e-9 * max(abs(transform.a), abs(transform.e))):
            raise AuxiliaryFileError(
                f"{image_name}: {first_name} and {name} place the image differently; send one of them."
            )
    if sidecar_crs is not None:
        crss.append(("the sidecar's crs", sidecar_crs))
    if not crss:
        raise AuxiliaryFileError(
            f"{image_name}: {first_name} places the image but says nothing of its CRS; send "
            f"{PurePosixPath(image_name).stem}.prj (WKT) or {image_name}{PAM_SUFFIX} beside it, or give the "
            "crs in the sidecar (e.g. crs = EPSG:32719)."
        )
    first_source, crs = crss[0]
    for source, other_crs in crss[1:]:
        if not same_crs(crs, other_crs):
            raise AuxiliaryFileError(
                f"{image_name}: {first_source} and {source} give different CRSs; send only one."
            )
    return Georeference(crs, transform), []


def parse_world_file(text: str, name: str) -> Affine:
    """A world file's transform (six numbers, one per line: A, D, B, E, C, F)."""
    parts = text.split()
    try:
        values = tuple(float(p) for p in parts)
    except ValueError as exc:
        raise AuxiliaryFileError(
            f"{name}: a world file holds six numbers, one per line; {_first_bad(parts)!r} is not a number."
        ) from exc
    if len(values) != 6:
        raise AuxiliaryFileError(f"{name}: a world file holds six numbers, one per line, not {len(values)}.")
    try:
        return world_file_transform(values, field=name)
    except GeoreferenceError as exc:
        raise AuxiliaryFileError(str(exc), field=name) from exc


def parse_pam(text: str, name: str) -> tuple[str | None, Affine | None]:
    """The SRS and GeoTransform of a GDAL PAM file (``<image>.aux.xml``); either may be missing.

    The SRS's data axis mapping is not read: like GDAL's own files it is taken as x = easting or longitude.
    """
    try:
        root = fromstring(text)
    except (ParseError, DefusedXmlException) as exc:
        raise AuxiliaryFileError(f"{name}: not a GDAL .aux.xml file ({exc}).") from exc
    if root.tag != "PAMDataset":
        raise AuxiliaryFileError(f"{name}: not a GDAL .aux.xml file (its root is <{root.tag}>).")
    srs_element = root.find("SRS")
    srs = _crs(srs_element.text, name) if srs_element is not None and srs_element.text else None
    geotransform = None
    gt_element = root.find("GeoTransform")
    if gt_element is not None and gt_element.text:
        try:
            c, a, b, f, d, e = (float(v) for v in gt_element.text.replace(",", " ").split())
        except ValueError as exc:
            raise AuxiliaryFileError(f"{name}: its GeoTransform is not six numbers.") from exc
        if not all(math.isfinite(v) for v in (a, b, c, d, e, f)) or a * e - b * d == 0:
            raise AuxiliaryFileError(f"{name}: its GeoTransform collapses the image or is not finite.")
        geotransform = Affine(a, b, c, d, e, f)
    return srs, geotransform


def _crs(text: str, name: str) -> str:
    try:
        return parse_crs(text, field=name)
    except GeoreferenceError as exc:
        raise AuxiliaryFileError(str(exc), field=name) from exc


def _text(aux: AuxiliaryFile) -> str:
    if len(aux.content) > MAX_AUXILIARY_BYTES:
        raise AuxiliaryFileError(
            f"{aux.name}: {len(aux.content):,} bytes is too large for a {aux.kind.value.replace('_', ' ')} "
            f"(at most {MAX_AUXILIARY_BYTES:,})."
        )
    try:
        return aux.content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return aux.content.decode("latin-1")  # old .prj files are not always UTF-8


def _first_bad(parts: list[str]) -> str:
    for part in parts:
        try:
            float(part)
        except ValueError:
            return part[:40]
    return ""
