"""COCO images to observations, by file name: the base name of ``file_name`` (folders dropped; where two
sites hold that name, a folder named like the site picks it), in any case; then Roboflow's renaming
``<stem>_<ext>.rf.<hash>.jpg`` undone; last, the name without its extension (a file re-encoded as JPEG)."""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict

from sqlalchemy import select

from app.interop.imports import ImportContext
from app.models.observation import Observation, ObservationStatus
from app.models.project import Site

_ROBOFLOW = re.compile(r"^(?P<stem>.+)_(?P<ext>[A-Za-z0-9]{2,5})\.rf\.[0-9A-Za-z]+\.[A-Za-z0-9]+$")


def _stem_key(name: str) -> str:
    """A file name without extension, lower case, with runs of other characters than letters and
    digits as one dash: ``0854_000.png``, ``0854-000.jpg`` and Roboflow's ``0854_000`` meet."""
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return re.sub(r"[^0-9a-z]+", "-", stem.lower()).strip("-")


def undo_roboflow(name: str) -> str | None:
    """``0854_000_png.rf.3f2a...c.jpg`` -> ``0854_000.png`` (Roboflow's export renaming), else None."""
    found = _ROBOFLOW.match(name)
    return f"{found['stem']}.{found['ext']}" if found else None


class ObservationNames:
    """The project's ready observations by file name, with the site each lies in."""

    def __init__(self, ctx: ImportContext) -> None:
        rows = ctx.session.execute(
            select(Observation, Site.name)
            .join(Site, Site.id == Observation.site_id)
            .where(Observation.project_id == ctx.project.id, Observation.status == ObservationStatus.READY)
        )
        self.by_lower: dict[str, list[tuple[Observation, str]]] = defaultdict(list)
        self.by_stem: dict[str, list[tuple[Observation, str]]] = defaultdict(list)
        for observation, site in rows:
            self.by_lower[observation.original_filename.lower()].append((observation, site))
            self.by_stem[_stem_key(observation.original_filename)].append((observation, site))
        self.examples = sorted(o.original_filename for found in self.by_lower.values() for o, _ in found)[:5]

    def match(self, file_name: str) -> tuple[list[Observation], str]:
        """The observations ``file_name`` may name (one when it is clear), and how it was matched."""
        path = file_name.replace("\\", "/")
        base = posixpath.basename(path)
        folders = {part.lower() for part in posixpath.dirname(path).split("/") if part}
        attempts = [("name", self.by_lower.get(base.lower(), []))]
        renamed = undo_roboflow(base)
        if renamed is not None:
            attempts.append(("roboflow", self.by_lower.get(renamed.lower(), [])))
            attempts.append(("roboflow", self.by_stem.get(_stem_key(renamed), [])))
        attempts.append(("stem", self.by_stem.get(_stem_key(base), [])))
        for how, found in attempts:
            if not found:
                continue
            if len(found) > 1:
                in_folder = [o for o, site in found if site.lower() in folders]
                if len(in_folder) == 1:
                    return in_folder, how
            return [o for o, _ in found], how
        return [], ""
