"""docker-compose.yml is documentation that must be right: validate it against the Compose spec schema."""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]


def load_compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    return compose


def test_compose_file_validates_against_the_compose_spec() -> None:
    # check-jsonschema ships the Compose spec's own JSON schema (vendor.compose-spec).
    schema_file = files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    schema = json.loads(schema_file.read_text())
    jsonschema.validate(load_compose(), schema)


def test_compose_services_have_what_production_needs() -> None:
    compose = load_compose()
    services = compose["services"]
    assert set(services) == {"postgis", "redis", "minio", "init", "api", "worker-cpu", "worker-gpu"}
    assert services["postgis"]["image"].startswith("postgis/postgis:")
    assert services["redis"]["image"].startswith("redis:")
    for name in ("postgis", "redis", "minio", "api", "worker-cpu", "worker-gpu"):
        assert "test" in services[name]["healthcheck"], name
    devices = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert services["worker-cpu"]["command"][-3:] == ["cpu", "--concurrency", "2"]
    assert "gpu" in services["worker-gpu"]["command"]
    for name in ("api", "worker-cpu", "worker-gpu"):
        depends = services[name]["depends_on"]
        assert depends["init"]["condition"] == "service_completed_successfully", name
        assert depends["postgis"]["condition"] == "service_healthy", name
        assert depends["minio"]["condition"] == "service_healthy", name
    # Named volumes only, each declared.
    declared = set(compose["volumes"])
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source in declared, volume


def test_compose_environment_names_real_settings() -> None:
    """Every variable passed to the app must be a setting the app reads (catches typos like DB_URL)."""
    from app.core.config import Settings

    environment = load_compose()["services"]["api"]["environment"]
    fields = Settings.model_fields
    for key in environment:
        parts = key.lower().split("__")
        assert parts[0] in fields, key
        if len(parts) == 2:
            group = fields[parts[0]].annotation
            assert group is not None and parts[1] in group.model_fields, key
    assert environment["MODE"] == "production"
    assert environment["SECURITY__SECRET_KEY"].startswith("${SECRET_KEY:?")
    # Workers may run on other machines: images must live in the object store, not a local folder.
    assert environment["STORAGE__BACKEND"] == "s3"
    assert environment["STORAGE__S3_ENDPOINT_URL"] == "http://minio:9000"


def test_dockerfile_copies_paths_that_exist() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    for sources in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, flags=re.MULTILINE):
        for source in sources.split():
            assert (REPO_ROOT / source).exists(), source
