"""The import formats and what they share: options, a report, errors that name every bad item, registry.

An importer checks the whole file first and stores nothing unless every item is good; then it stores all
of it in one transaction (the caller commits). Items imported before are recognized and skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import LimitSettings
from app.core.errors import InvalidInputError
from app.core.input_rules import problem as input_problem
from app.interop.labeling_config import LabelingConfig
from app.models.annotation import Annotation, Prediction
from app.models.project import Project
from app.schemas.base import RequestModel

MAX_LISTED_PROBLEMS = 200


Outside = Literal["skip", "clip", "fail"]
UnknownClasses = Literal["fail", "skip"]


class ImportOptions(RequestModel):
    model_config = ConfigDict(populate_by_name=True)

    as_: Literal["annotations", "predictions"] = Field(
        default="annotations", alias="as", description="What the file's shapes become (Label Studio: both)."
    )
    observation_id: uuid.UUID | None = Field(
        default=None, description="GIS files: the one observation to put the shapes on (georeferenced)."
    )
    site_id: uuid.UUID | None = Field(
        default=None,
        description="GIS files: put each feature on every observation of this site whose footprint it "
        "overlaps (neither this nor observation_id: every observation of the project).",
    )
    label_property: str = Field(
        default="class",
        min_length=1,
        max_length=200,
        description="GIS files: the property holding the class.",
    )
    default_label: str | None = Field(
        default=None, max_length=200, description="GIS files: the class for features without one (e.g. Pit)."
    )
    label_map: dict[str, str] = Field(
        default_factory=dict,
        max_length=1000,
        description="COCO category name or GIS class value -> the project's class, e.g. "
        '{"pit": "Pit", "mine": "Outline"}; names it does not list match classes of the same name, '
        "in any case.",
    )
    unknown_classes: UnknownClasses = Field(
        default="fail",
        description="COCO and GIS files: a category or class value that is no class of the project "
        "refuses the file (fail) or its shapes are skipped and counted (skip).",
    )
    outside: Outside = Field(
        default="skip",
        description="GIS files: features that touch no target image are skipped and counted, those "
        "crossing its edge clipped (skip); features wholly outside refuse the file, crossing ones are "
        "clipped (clip); any feature not wholly inside refuses the file (fail).",
    )
    date_property: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="GIS files: the property holding each feature's date (ISO date, or a year); a "
        "feature then goes only to observations acquired on it (within date_tolerance_days).",
    )
    date_tolerance_days: int = Field(
        default=0, ge=0, le=3660, description="GIS files: how many days an acquisition may differ."
    )
    model_version: str = Field(
        default="import", min_length=1, max_length=200, description="For shapes imported as predictions."
    )

    @field_validator("label_map")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        for key, target in value.items():
            if not key.strip() or not target.strip():
                raise ValueError(f"names must not be empty ({key!r}: {target!r})")
        return value

    @model_validator(mode="after")
    def _together(self) -> ImportOptions:
        if self.observation_id is not None and self.site_id is not None:
            raise PydanticCustomError(
                "observation_or_site", "pass observation_id or site_id, not both", {"field": "site_id"}
            )
        if self.date_tolerance_days and self.date_property is None:
            raise PydanticCustomError(
                "tolerance_without_date",
                "date_tolerance_days needs date_property (the property holding each feature's date)",
                {"field": "date_tolerance_days"},
            )
        return self


class InvalidImportOptionError(InvalidInputError):
    """An import option that is malformed, or does not apply to the format: ``field`` names it."""

    code = "invalid_import_option"


def parse_import_options(format_name: str, fields: dict[str, Any]) -> ImportOptions:
    """The options of an import, checked before the file is read.

    Args:
        format_name: the import format (an unknown one is refused first).
        fields: option name (``as`` for ``as_``) -> value, as the API or the CLI received them.

    Returns:
        The options; InvalidImportOptionError (422) names the first bad field and lists every error.
    """
    fmt = get_import_format(format_name)
    try:
        options = ImportOptions.model_validate(fields)
    except ValidationError as exc:
        errors = []
        for error in exc.errors():
            context = error.get("ctx") or {}
            location = [str(part) for part in error["loc"]]
            name = str(context.get("field") or (location[0] if location else "options"))
            errors.append({"field": name, "message": f"{name}: {error['msg']}"})
        raise InvalidImportOptionError(
            f"Invalid import option: {'; '.join(e['message'] for e in errors)}; nothing was stored.",
            field=errors[0]["field"],
            errors=errors,
        ) from exc
    defaults = ImportOptions()
    for name in ImportOptions.model_fields:
        if name == "as_" and fmt.reads_as:
            continue
        if name in fmt.options or getattr(options, name) == getattr(defaults, name):
            continue
        shown = "as" if name == "as_" else name
        readable = sorted(({"as"} if fmt.reads_as else set()) | fmt.options) or ["none"]
        raise InvalidImportOptionError(
            f"Invalid import option: {shown} does not apply to format={fmt.name} (it reads "
            f"{', '.join(readable)}); nothing was stored.",
            field=shown,
            errors=[{"field": shown, "message": f"{shown} does not apply to format={fmt.name}"}],
        )
    return options


@dataclass
class ImportProblem:
    message: str
    task: int | None = None  # index in the file (0-based)
    annotation: int | None = None
    result: int | None = None
    feature: int | None = None
    image: int | None = None  # COCO: index in ``images``
    category: int | None = None  # COCO: index in ``categories``
    prediction: int | None = None  # Label Studio: index in the task's ``predictions``


class ImportRejectedError(InvalidInputError):
    code = "import_rejected"


def load_json_document(path: Path, what: str) -> Any:
    """An import file's JSON, refused (nothing stored) unless it meets app.core.input_rules: no NUL or
    other control characters in any string, bounded nesting, finite numbers."""
    try:
        doc = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise reject([ImportProblem(f"the file is not JSON: {exc}")], what) from exc
    if (found := input_problem(doc)) is not None:
        raise reject([ImportProblem(found.describe("the file"))], what)
    return doc


def reject(problems: list[ImportProblem], what: str) -> ImportRejectedError:
    listed = [{k: v for k, v in asdict(p).items() if v is not None} for p in problems[:MAX_LISTED_PROBLEMS]]
    more = f" (the first {MAX_LISTED_PROBLEMS} are listed)" if len(problems) > MAX_LISTED_PROBLEMS else ""
    return ImportRejectedError(
        f"The {what} was not imported: {len(problems)} problem(s){more}; nothing was stored. "
        f"First: {problems[0].message}",
        problems=listed,
    )


@dataclass
class ImportReport:
    format: str = ""
    items_read: int = 0  # tasks (Label Studio), annotations (COCO) or features (GIS)
    annotations_created: int = 0
    predictions_created: int = 0
    regions_created: int = 0
    skipped_as_imported_before: int = 0
    # Items left out, by why (e.g. outside_image, no_matching_date, unknown_class, prediction_ids_only).
    skipped: dict[str, int] = field(default_factory=dict)
    clipped: int = 0  # shapes cut to the image's edge
    notes: list[str] = field(default_factory=list)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ImportContext:
    session: Session
    project: Project
    config: LabelingConfig
    importer_id: uuid.UUID  # who runs the import
    options: ImportOptions
    limits: LimitSettings


Importer = Callable[[ImportContext, Path], ImportReport]


@dataclass(frozen=True)
class ImportFormat:
    name: str
    importer: Importer
    description: str
    options: frozenset[str] = frozenset()  # the ImportOptions fields it reads, besides ``as``
    reads_as: bool = True  # whether ``as`` (annotations or predictions) applies


IMPORT_FORMATS: dict[str, ImportFormat] = {}


def register(fmt: ImportFormat) -> ImportFormat:
    IMPORT_FORMATS[fmt.name] = fmt
    return fmt


def imported_before(
    session: Session, model: type[Annotation] | type[Prediction], observation_id: uuid.UUID, key: str
) -> bool:
    """Whether an annotation or prediction made from the item with this import key exists already."""
    found = session.scalar(
        select(model.id).where(model.observation_id == observation_id, model.import_key == key)
    )
    return found is not None


def import_formats() -> dict[str, ImportFormat]:
    """Import every format module (each registers itself) and return the registry."""
    from app.interop import coco_import, gis_import, label_studio_import  # noqa: F401

    return IMPORT_FORMATS


def get_import_format(name: str) -> ImportFormat:
    import_formats()
    if name not in IMPORT_FORMATS:
        raise InvalidInputError(f"Unknown import format {name!r}; choose one of {sorted(IMPORT_FORMATS)}.")
    return IMPORT_FORMATS[name]


class ClassNames:
    """Category names or class values of a file -> the project's classes: ``label_map`` first, then names
    equal to a class in any case."""

    def __init__(self, classes: list[str], label_map: dict[str, str]) -> None:
        self.classes = classes
        by_lower = {name.lower(): name for name in classes}
        self.bad_targets = {k: v for k, v in label_map.items() if v.strip().lower() not in by_lower}
        mapped = {k: by_lower[v.strip().lower()] for k, v in label_map.items() if k not in self.bad_targets}
        self._exact = mapped
        self._lower = {key.lower(): target for key, target in mapped.items()}
        self._classes = by_lower

    def problems(self) -> list[ImportProblem]:
        return [
            ImportProblem(
                f"label_map maps {key!r} to {target!r}, which is not one of the project's classes "
                f"{self.classes}"
            )
            for key, target in self.bad_targets.items()
        ]

    def resolve(self, name: str) -> str | None:
        """The project's class for ``name``, or None when neither label_map nor a class names it."""
        text = name.strip()
        if text in self._exact:
            return self._exact[text]
        return self._lower.get(text.lower()) or self._classes.get(text.lower())


def label_map_option(text: str | None) -> dict[str, str]:
    """``label_map`` as the API and the CLI take it: a JSON object ``{"pit": "Pit"}`` or ``pit=Pit,mine=Pit``.

    Raises:
        InvalidImportOptionError: neither, or values that are not names.
    """
    if text is None or not text.strip():
        return {}
    problem = 'label_map must be a JSON object of names, e.g. {"pit": "Pit"}, or pit=Pit,mine=Outline'
    if text.lstrip().startswith("{"):
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise _bad_label_map(f"{problem} (not JSON: {exc})") from exc
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise _bad_label_map(problem)
        return {str(k): v for k, v in value.items()}
    pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
    if not all(len(pair) == 2 for pair in pairs):
        raise _bad_label_map(problem)
    return {key.strip(): value.strip() for key, value in pairs}


def _bad_label_map(message: str) -> InvalidImportOptionError:
    return InvalidImportOptionError(
        f"Invalid import option: {message}; nothing was stored.",
        field="label_map",
        errors=[{"field": "label_map", "message": message}],
    )
