"""The mine topology rules a save is checked against: their codes and what a warning about each says.

They are warnings, never refusals: a Pit drawn before its Outline is normal work in progress.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass


class TopologyRule(enum.StrEnum):
    OUTSIDE_OUTLINE = "outside_outline"  # a Pit or Infrastructure not covered by the Outlines
    PIT_OVERLAPS_INFRASTRUCTURE = "pit_overlaps_infrastructure"  # a Pit sharing area with Infrastructure


@dataclass(frozen=True)
class TopologyWarning:
    """One rule one region does not meet; ``other_region_id`` is the region it conflicts with, if one."""

    code: TopologyRule
    region_id: uuid.UUID
    message: str
    other_region_id: uuid.UUID | None = None


def topology_warning(
    code: TopologyRule, region_id: uuid.UUID, other_region_id: uuid.UUID | None = None
) -> TopologyWarning:
    """The warning, with a message for people that names the region (and the other one)."""
    if code is TopologyRule.OUTSIDE_OUTLINE:
        what = "lies (partly) outside every Outline; mine parts should lie inside the mine grounds"
    else:
        what = f"overlaps Infrastructure region {other_region_id}; pits and infrastructure are apart"
    return TopologyWarning(code, region_id, f"Region {region_id} {what}.", other_region_id)
