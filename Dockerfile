# Two images from one file (docker compose builds both):
#   --target api         the API, beat and the CPU workers: the base group only (no torch, no test tools)
#   --target gpu-worker  the GPU workers: base + ml groups (torch with its CUDA libraries, segment-anything,
#                        segmentation-models-pytorch). torch's wheels bring the CUDA runtime and cuDNN
#                        themselves, so the image needs only the host's driver, which the NVIDIA Container
#                        Toolkit mounts in (the NVIDIA_* variables below ask for it).
FROM node:22-bookworm-slim AS frontend
WORKDIR /frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

FROM python:3.11-slim-bookworm AS python-base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    JOBS__SCRATCH_DIR=/data/scratch JOBS__BEAT_SCHEDULE_FILE=/data/scratch/celerybeat-schedule
WORKDIR /app
COPY requirements/base.lock requirements/constraints.txt requirements/
RUN pip install --no-cache-dir -c requirements/constraints.txt -r requirements/base.lock
RUN useradd --system --uid 10001 --home-dir /app minelabel \
    && mkdir -p /data/files /data/scratch && chown minelabel /data/files /data/scratch

FROM python-base AS api
COPY pyproject.toml alembic.ini ./
COPY backend/ backend/
COPY workers/ workers/
COPY migrations/ migrations/
COPY --from=frontend /frontend/dist frontend/dist
RUN pip install --no-cache-dir --no-deps -e .
USER minelabel
EXPOSE 8000
CMD ["minelabel", "serve", "--host", "0.0.0.0", "--port", "8000"]

FROM python-base AS gpu-worker
ENV NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
COPY requirements/ml.lock requirements/
RUN pip install --no-cache-dir -c requirements/constraints.txt -r requirements/ml.lock
COPY pyproject.toml alembic.ini ./
COPY backend/ backend/
COPY workers/ workers/
COPY migrations/ migrations/
RUN pip install --no-cache-dir --no-deps -e .
USER minelabel
# One pool process per GPU (nvidia-smi counts them), each pinned to its own.
CMD ["minelabel", "worker", "--queues", "gpu"]
