"""`python -m workers.ml.sam.check`: load the configured SAM checkpoint once and print what was found, as
JSON. A worker runs it in a process of its own when it starts, so that its main process never imports
torch, and reports a wrong or damaged file then (and in /api/health) instead of a traceback per job."""

from __future__ import annotations

import json
import sys

from app.core.config import get_settings
from workers.ml.sam.model import SamSetupError, load


def main() -> int:
    try:
        loaded = load(get_settings().sam)
    except SamSetupError as exc:
        print(json.dumps({"ok": False, "detail": str(exc)}))  # noqa: T201 (the output is the answer)
        return 1
    answer = {
        "ok": True,
        "detail": f"SAM {loaded.model_type} ({loaded.checkpoint_hash}) from {loaded.path}",
        "checkpoint_hash": loaded.checkpoint_hash,
        "model_type": loaded.model_type,
    }
    print(json.dumps(answer))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
