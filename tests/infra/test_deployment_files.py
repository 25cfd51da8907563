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
    assert set(services) == {"postgis", "redis", "minio", "init", "api", "beat", "worker-cpu", "worker-gpu"}
    assert services["postgis"]["image"].startswith("postgis/postgis:")
    assert services["redis"]["image"].startswith("redis:")
    for name in ("postgis", "redis", "minio", "api", "worker-cpu", "worker-gpu"):
        assert "test" in services[name]["healthcheck"], name
    devices = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    assert services["worker-cpu"]["command"][-3:] == ["cpu", "--concurrency", "2"]
    # One pool process per GPU (the default of `minelabel worker --queues gpu`).
    assert services["worker-gpu"]["command"] == ["minelabel", "worker", "--queues", "gpu"]
    assert services["beat"]["command"] == ["minelabel", "beat"]
    # The API image carries no torch; the GPU workers have an image of their own.
    for name in ("init", "api", "beat", "worker-cpu"):
        assert services[name]["build"]["target"] == "api", name
    assert services["worker-gpu"]["build"]["target"] == "gpu-worker"
    for name in ("api", "beat", "worker-cpu", "worker-gpu"):
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


def dockerfile_stages() -> dict[str, str]:
    """Each build stage's text, by name (and by what it builds on, inherited)."""
    text = (REPO_ROOT / "Dockerfile").read_text()
    stages: dict[str, str] = {}
    for match in re.finditer(r"^FROM (\S+) AS (\S+)\n(.*?)(?=^FROM |\Z)", text, flags=re.M | re.S):
        parent, name, body = match.groups()
        stages[name] = stages.get(parent, "") + body
    return stages


def test_the_api_image_has_neither_torch_nor_test_tools() -> None:
    stages = dockerfile_stages()
    assert set(stages) == {"frontend", "python-base", "api", "gpu-worker"}
    installed = {name: re.findall(r"-r (\S+)", body) for name, body in stages.items()}
    assert installed["api"] == ["requirements/base.lock"]
    assert installed["gpu-worker"] == ["requirements/base.lock", "requirements/ml.lock"]
    for name in ("api", "gpu-worker"):
        assert "-c requirements/constraints.txt" in stages[name], name
    ml = (REPO_ROOT / "requirements" / "ml.lock").read_text()
    assert "torch==2.14.1" in ml and "torchvision==0.29.1" in ml
    base = (REPO_ROOT / "requirements" / "base.lock").read_text().lower()
    for absent in ("torch", "pytest", "mypy", "playwright"):
        assert f"\n{absent}==" not in base, absent


def test_dockerfile_copies_paths_that_exist() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    for sources in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, flags=re.MULTILINE):
        for source in sources.split():
            assert (REPO_ROOT / source).exists(), source
