"""The GPUs of this machine, from nvidia-smi: never from CUDA, so that a worker's main process stays
free of it (forked pool processes must initialise CUDA themselves)."""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import asdict, dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    memory_mib: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def list_gpus() -> list[GpuInfo]:
    """The GPUs nvidia-smi lists; none where it is missing or fails."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return []
    try:
        out = subprocess.run(
            [binary, "--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        logger.warning("nvidia-smi failed; this worker lists no GPU", exc_info=True)
        return []
    gpus = []
    for line in out.strip().splitlines():
        index, name, memory = (part.strip() for part in line.split(","))
        gpus.append(GpuInfo(int(index), name, int(float(memory))))
    return gpus
