"""The `minelabel` command, run as a user would, against a scratch database."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.imagery.factories import write_plain
from tests.services import RunningServices, service_env

DATABASE = "minelabel_cli"
MINELABEL = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "minelabel")


@pytest.fixture
def cli_env(services: RunningServices) -> Iterator[dict[str, str]]:
    services.postgres.drop_database(DATABASE)
    services.postgres.ensure_database(DATABASE)
    yield service_env(services.db_url(DATABASE), services.redis.url, ADMIN__EMAIL="root@mine.example")
    services.postgres.drop_database(DATABASE)


def minelabel(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MINELABEL, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_init_then_create_users(cli_env: dict[str, str]) -> None:
    first = minelabel(cli_env, "init")
    assert first.returncode == 0, first.stderr
    assert "First admin account created: root@mine.example  password: " in first.stdout
    second = minelabel(cli_env, "init")
    assert second.returncode == 0, second.stderr
    assert "users exist already" in second.stdout
    assert "password" not in second.stdout

    created = minelabel(cli_env, "create-user", "ann@mine.example", "--password", "long enough pw")
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("created ann@mine.example")

    again = minelabel(cli_env, "create-user", "ANN@mine.example", "--password", "long enough pw")
    assert again.returncode == 1
    assert "A user with email ANN@mine.example exists already." in again.stderr

    short = minelabel(cli_env, "create-user", "bob@mine.example", "--password", "short")
    assert short.returncode == 1
    assert "at least 10 characters" in short.stderr

    project = minelabel(cli_env, "create-project", "Ghana pits")
    assert project.returncode == 0, project.stderr
    member = minelabel(cli_env, "add-member", "Ghana pits", "ann@mine.example", "annotator")
    assert member.returncode == 0, member.stderr
    assert member.stdout.strip() == "ann@mine.example is annotator of Ghana pits"
    nobody = minelabel(cli_env, "add-member", "Ghana pits", "nobody@mine.example", "reviewer")
    assert nobody.returncode == 1 and "create it first" in nobody.stderr
    bad_role = minelabel(cli_env, "add-member", "Ghana pits", "ann@mine.example", "owner")
    assert bad_role.returncode == 2 and "owner" in bad_role.stderr
    token = minelabel(cli_env, "create-token", "ann@mine.example", "training script")
    assert token.returncode == 0, token.stderr
    assert token.stdout.strip().startswith("ml_") and "shown once" in token.stderr


def test_export_and_import_labels(cli_env: dict[str, str], tmp_path: Path) -> None:
    assert minelabel(cli_env, "init").returncode == 0
    assert minelabel(cli_env, "create-project", "Ghana pits").returncode == 0
    out = tmp_path / "labels.json"
    exported = minelabel(cli_env, "export", "Ghana pits", str(out), "--format", "label-studio")
    assert exported.returncode == 0, exported.stderr
    assert out.read_text() == "[]" and '"tasks": 0' in exported.stdout
    bad = tmp_path / "bad.json"
    bad.write_text('[{"data": {"image": "/data/upload/1/abcdef12-nowhere.png"}}]')
    imported = minelabel(cli_env, "import-labels", "Ghana pits", str(bad), "--as-user", "root@mine.example")
    assert imported.returncode == 1
    assert "nothing was stored" in imported.stderr and "'task': 0" in imported.stderr
    coco = tmp_path / "coco.json"
    image = {"id": 1, "file_name": "train/0854_000_png.rf.ab12.jpg", "width": 1000, "height": 1000}
    square = {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 10, 0, 10, 10]]}
    categories = [{"id": 1, "name": "mine"}]
    coco.write_text(json.dumps({"images": [image], "categories": categories, "annotations": [square]}))
    args = ["import-labels", "Ghana pits", str(coco), "--as-user", "root@mine.example", "--format", "coco"]
    unmatched = minelabel(cli_env, *args, "--label-map", "mine=Outline")
    assert unmatched.returncode == 1, unmatched.stderr
    assert (
        "image 'train/0854_000_png.rf.ab12.jpg' (1 annotation(s)) matches no observation" in unmatched.stderr
    )
    misplaced = minelabel(cli_env, *args, "--observation", "0b0e4d2c-6f31-4e7c-9c58-6d2f1d8b7a11")
    assert misplaced.returncode == 1 and "observation_id does not apply to format=coco" in misplaced.stderr
    nowhere = minelabel(cli_env, *args[:-1], "geojson", "--site", "0854")
    assert nowhere.returncode == 1 and "No site named '0854' in the project" in nowhere.stderr
    wrong = minelabel(cli_env, "export", "Ghana pits", str(out), "--format", "shapefile")
    assert wrong.returncode == 1 and "Unknown export format" in wrong.stderr
    every = minelabel(cli_env, "export", "Ghana pits", str(out), "--annotations", "everyone")
    assert every.returncode == 2 and "--annotations must be ground_truth, all or none" in every.stderr
    geojson = tmp_path / "areas.geojson"
    areas_args = [
        "--format",
        "geojson",
        "--annotations",
        "none",
        "--model-version",
        "unet-v1",
        "--all-states",
    ]
    areas = minelabel(cli_env, "export", "Ghana pits", str(geojson), *areas_args)
    assert areas.returncode == 0, areas.stderr
    assert json.loads(geojson.read_text())["features"] == []


def test_train_and_predict_refuse_what_cannot_run(cli_env: dict[str, str]) -> None:
    assert minelabel(cli_env, "init").returncode == 0
    assert minelabel(cli_env, "create-project", "Ghana pits").returncode == 0
    nothing = minelabel(cli_env, "train", "Ghana pits", "--no-wait")
    assert nothing.returncode == 1 and "no approved task yet" in nothing.stderr
    skipping = minelabel(cli_env, "train", "Ghana pits", "--chip-size", "64", "--stride", "128")
    assert skipping.returncode == 1 and "stride (128) > chip_size (64) would skip pixels" in skipping.stderr
    no_images = minelabel(cli_env, "predict", "Ghana pits")
    assert no_images.returncode == 1 and "No ready observation in state new" in no_images.stderr
    unknown = minelabel(cli_env, "predict", "Ghana pits", "--model", "unet-v7")
    assert unknown.returncode == 1 and "no model version named 'unet-v7'" in unknown.stderr


def test_invalid_settings_are_reported_before_anything_runs(cli_env: dict[str, str]) -> None:
    result = minelabel({**cli_env, "MODE": "production"}, "migrate")
    assert result.returncode == 2
    assert "SECURITY__SECRET_KEY" in result.stderr


def test_render_tiles_stores_the_pyramids_of_images_imported_without_them(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    write_plain(folder / "pit_000.png", "PNG", width=300, height=300)
    env = {**cli_env, "STORAGE__DATA_DIR": str(tmp_path / "files")}
    assert minelabel(env, "init").returncode == 0
    assert minelabel(env, "create-project", "Older").returncode == 0
    # As an install from before stored pyramids: the image is converted, but no tiles are stored.
    imported = minelabel({**env, "TILES__PYRAMID_MAX_TILES": "0"}, "import-images", "Older", str(folder))
    assert imported.returncode == 0, imported.stderr
    assert not list((tmp_path / "files").rglob("pyramid"))

    rendered = minelabel(env, "render-tiles", "Older")
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout.strip() == "rendered 1 sites of project Older"
    manifests = sorted(p.name for p in (tmp_path / "files").rglob("pyramid/*.json"))
    assert manifests == ["jpg.json", "png.json"]
    assert len(list((tmp_path / "files").rglob("pyramid/*/1/*/*.png"))) == 4  # zoom 1 of 300 x 300: 2 x 2

    unknown = minelabel(env, "render-tiles", "Nowhere")
    assert unknown.returncode == 1 and "Nowhere" in unknown.stderr
