"""The backend stays torch-free: only workers/ml may import torch and its kin, so the API and the exports
start without them and the shared geo-ML code in app/ml runs anywhere."""

from __future__ import annotations

import ast
from pathlib import Path

import app

BACKEND = Path(app.__file__).resolve().parent
TORCH_FAMILY = {"torch", "torchvision", "lightning", "pytorch_lightning", "segmentation_models_pytorch",
                "segment_anything", "torchgeo", "torchmetrics"}  # fmt: skip


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_backend_module_imports_torch() -> None:
    files = sorted(BACKEND.rglob("*.py"))
    assert BACKEND / "ml" / "vectorize.py" in files  # the walk sees the ML code
    offenders = {
        str(path.relative_to(BACKEND)): sorted(found)
        for path in files
        if (found := imported_modules(path) & TORCH_FAMILY)
    }
    assert offenders == {}
