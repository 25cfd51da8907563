"""The export formats and what they share: options, a report of what was written, and the registry.

Each format is a writer that yields the file's bytes piece by piece (constant memory); the API streams them,
and the CLI and the export job write them to a file. Formats register themselves at import (see
``load_formats``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from sqlalchemy.orm import Session

from app.core.config import TileSettings
from app.core.errors import InvalidInputError
from app.imagery.storage import Storage
from app.interop.labeling_config import LabelingConfig
from app.interop.selection import Selection
from app.models.project import Project
from app.schemas.base import RequestModel


class ExportOptions(RequestModel):
    """Options of the formats; each format reads those that concern it."""

    image_url: str = Field(
        default="/data/local-files/?d={site}/{filename}",
        description="Label Studio: the task's image reference. Placeholders: {filename}, {site}, {index}, "
        "{observation_id}, {project_id}. E.g. https://minelabel.example/api/observations/{observation_id}/"
        "original for MineLabel's own image endpoint.",
    )
    completed_by: Literal["omit", "email"] = Field(
        default="omit",
        description="Label Studio: omit `completed_by` (safe), or write the annotator's email (the target "
        "Label Studio must have that user in its organization, or it rejects the whole import).",
    )
    chip_size: int | None = Field(
        default=None,
        ge=32,
        le=4096,
        description="Masks: cut masks (and images) into square chips of this size.",
    )
    chip_images: bool = Field(
        default=True, description="Masks: with chips, also write the matching image chips."
    )

    @field_validator("image_url")
    @classmethod
    def _image_url_is_one_label_studio_shows(cls, template: str) -> str:
        from app.interop.label_studio_lint import image_reference_problem

        sample = image_reference(
            template, project_id=uuid.UUID(int=0), observation_id=uuid.UUID(int=1), site="site",
            filename="image.png", index=0,
        )  # fmt: skip
        if (problem := image_reference_problem(sample)) is not None:
            raise ValueError(f"image_url: {problem}")
        return template


@dataclass
class ExportReport:
    """What an export wrote, and what it had to change to fit the format."""

    format: str = ""
    tasks: int = 0
    annotations: int = 0
    predictions: int = 0
    regions: int = 0
    polygons: int = 0  # written shapes (a region with several parts may become several)
    multipart_regions_split: int = 0
    holes_dropped: int = 0
    hole_area_px: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def no_task_note(selection: Selection) -> str:
    """What an export that matched no task says in its report (and, as each format allows, its body)."""
    return (
        f"No task matched the selection ({selection.describe()}): the export holds no task. Only ready "
        "observations are exported, approved ones unless the state filter says otherwise."
    )


@dataclass
class ExportContext:
    session: Session
    project: Project
    config: LabelingConfig
    selection: Selection
    options: ExportOptions
    storage: Storage
    tiles: TileSettings
    total_tasks: int = 0
    # Where writers put temporary files: the job attempt's scratch folder or the API's staging, both swept
    # when a killed process leaves them (None: the system's temporary folder, which nothing sweeps).
    scratch: Path | None = None
    on_progress: Callable[[int], None] | None = None  # called with the number of tasks done

    def progress(self, done: int) -> None:
        if self.on_progress is not None:
            self.on_progress(done)


Writer = Callable[[ExportContext, ExportReport], Iterator[bytes]]


@dataclass(frozen=True)
class ExportFormat:
    name: str
    media_type: str
    extension: str
    writer: Writer
    description: str


FORMATS: dict[str, ExportFormat] = {}


def register(fmt: ExportFormat) -> ExportFormat:
    FORMATS[fmt.name] = fmt
    return fmt


def load_formats() -> dict[str, ExportFormat]:
    """Import every format module (each registers itself) and return the registry."""
    from app.interop import coco, geojson_export, geopackage, label_studio_export, masks  # noqa: F401

    return FORMATS


def get_format(name: str) -> ExportFormat:
    formats = load_formats()
    if name not in formats:
        raise InvalidInputError(f"Unknown export format {name!r}; choose one of {sorted(formats)}.")
    return formats[name]


def export_filename(project: Project, fmt: ExportFormat) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in project.name).strip("-") or "project"
    return f"{safe}-{fmt.name}.{fmt.extension}"


def image_reference(template: str, *, project_id: uuid.UUID, observation_id: uuid.UUID, site: str,
                    filename: str, index: int) -> str:  # fmt: skip
    try:
        return template.format(
            filename=filename, site=site, index=index, observation_id=observation_id, project_id=project_id
        )
    except (KeyError, IndexError, ValueError) as exc:
        raise InvalidInputError(
            f"image_url template {template!r} is not valid: {exc}. Use {{filename}}, {{site}}, {{index}}, "
            "{observation_id} or {project_id}."
        ) from exc
