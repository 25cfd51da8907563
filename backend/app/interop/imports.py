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

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import LimitSettings
from app.core.errors import InvalidInputError
from app.interop.labeling_config import LabelingConfig
from app.models.annotation import Annotation, Prediction
from app.models.project import Project

MAX_LISTED_PROBLEMS = 200


class ImportOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    as_: Literal["annotations", "predictions"] = Field(
        default="annotations", alias="as", description="What the file's shapes become (Label Studio: both)."
    )
    observation_id: uuid.UUID | None = Field(
        default=None, description="GIS files: the observation to put the shapes on (georeferenced)."
    )
    label_property: str = Field(default="class", description="GIS files: the property holding the class.")
    default_label: str | None = Field(
        default=None, description="GIS files: the class for features without one (e.g. Pit)."
    )
    model_version: str = Field(
        default="import", max_length=200, description="For shapes imported as predictions."
    )


@dataclass
class ImportProblem:
    message: str
    task: int | None = None  # index in the file (0-based)
    annotation: int | None = None
    result: int | None = None
    feature: int | None = None


class ImportRejectedError(InvalidInputError):
    code = "import_rejected"


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
    items_read: int = 0  # tasks (Label Studio) or features (GIS)
    annotations_created: int = 0
    predictions_created: int = 0
    regions_created: int = 0
    skipped_as_imported_before: int = 0
    notes: list[str] = field(default_factory=list)

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
    from app.interop import gis_import, label_studio_import  # noqa: F401

    return IMPORT_FORMATS


def get_import_format(name: str) -> ImportFormat:
    import_formats()
    if name not in IMPORT_FORMATS:
        raise InvalidInputError(f"Unknown import format {name!r}; choose one of {sorted(IMPORT_FORMATS)}.")
    return IMPORT_FORMATS[name]
