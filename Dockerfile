# One image for the API and the workers. Build: docker compose build
FROM node:22-bookworm-slim AS frontend
WORKDIR /frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock
COPY pyproject.toml alembic.ini ./
COPY backend/ backend/
COPY workers/ workers/
COPY migrations/ migrations/
COPY --from=frontend /frontend/dist frontend/dist
RUN pip install --no-cache-dir --no-deps -e . \
    && useradd --system --uid 10001 --home-dir /app minelabel \
    && mkdir -p /data/files && chown minelabel /data/files
USER minelabel
EXPOSE 8000
CMD ["minelabel", "serve", "--host", "0.0.0.0", "--port", "8000"]
