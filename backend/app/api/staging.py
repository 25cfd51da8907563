"""The staging folders of uploads and imports: one per request under ``<data_dir>/staging``, removed when
the request ends, and swept by age when a process was killed mid-upload (nothing else would remove them).

Swept at start-up and whenever a new folder is made, but only folders idle for ``max_idle_s``: several
API processes share the folder, and another one's upload in progress must survive.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path

logger = logging.getLogger(__name__)


def staging_root(data_dir: Path) -> Path:
    return data_dir / "staging"


def sweep(root: Path, max_idle_s: float) -> int:
    """Remove the staging folders under ``root`` in which nothing was written for ``max_idle_s``.

    Returns:
        How many were removed.
    """
    if not root.is_dir():
        return 0
    cutoff = time.time() - max_idle_s
    removed = 0
    for folder in root.iterdir():
        try:
            newest = max([folder.stat().st_mtime, *(p.stat().st_mtime for p in folder.rglob("*"))])
        except FileNotFoundError:  # removed meanwhile by its own request
            continue
        if newest < cutoff:
            if folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
            else:
                folder.unlink(missing_ok=True)
            removed += 1
    if removed:
        logger.info("removed %d abandoned staging folder(s) under %s", removed, root)
    return removed


def new_staging(data_dir: Path, max_idle_s: float) -> Path:
    """A fresh staging folder for one request (the caller removes it), after sweeping abandoned ones."""
    root = staging_root(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    sweep(root, max_idle_s)
    return Path(tempfile.mkdtemp(dir=root))
