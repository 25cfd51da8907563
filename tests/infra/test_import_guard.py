"""The API process never imports torch, nor workers/ (whose GPU code does): checked in a fresh interpreter
that builds the app and loads the CLI, the way `minelabel serve` does."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.util import find_spec

from tests.services import REPO_ROOT

PROBE = """
import json, sys
from app.main import create_app
import app.cli, app.jobs.handlers, app.jobs.runner
create_app()
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_building_the_app_imports_neither_torch_nor_workers() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=120
    ).stdout
    loaded = set(json.loads(out.strip().splitlines()[-1]))
    assert "app" in loaded and "fastapi" in loaded  # the probe did build the app
    assert not loaded & {"torch", "torchvision", "segment_anything", "segmentation_models_pytorch", "workers"}


def test_torch_is_installed_where_the_ml_group_is() -> None:
    # Without torch the check above would pass for the wrong reason; say so instead of passing quietly.
    if find_spec("torch") is None:
        import pytest

        pytest.skip("the ml group is not installed (MINELABEL_SKIP_ML=1): torch cannot be imported at all")
    import torch

    assert torch.__version__.startswith("2.14.1")
