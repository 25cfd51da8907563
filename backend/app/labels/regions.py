"""Which region of a request a problem is about, and the check of its class against the labeling config.

Messages name a region for people ("Region 2 (<id>)"); error bodies also carry ``region_id`` and
``region_index`` so that clients find the region without reading the message.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from app.core.errors import InvalidInputError


@dataclass(frozen=True)
class RegionRef:
    """A region as problems refer to it.

    Attributes:
        name: how messages name it ("2 (<id>)", "of feature 3").
        id: its id, where the request gave one (or it is stored already).
        index: its 0-based position in the request's list of regions; None where the request is not a list
            (single-region routes, restores, imports that report their own positions).
    """

    name: str
    id: uuid.UUID | None = None
    index: int | None = None

    def error_fields(self) -> dict[str, Any]:
        """The machine-readable fields an error about this region adds to its JSON body."""
        return {"region_id": self.id, "region_index": self.index}


class UnknownLabelError(InvalidInputError):
    code = "unknown_label"


def check_label(label: str, region: RegionRef, classes: Collection[str]) -> None:
    """Raises UnknownLabelError (naming the region, with its id and position) unless ``label`` is one of
    ``classes``."""
    if label not in classes:
        raise UnknownLabelError(
            f"Region {region.name}: {label!r} is not a class of this project ({', '.join(classes)}).",
            **region.error_fields(),
        )
