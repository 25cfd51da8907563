"""The Models page in the browser, against the real backend and worker, with a tiny U-Net trained on CPU.

Synthetic 4-band mines on six sites and two dates (tests/training/synthetic.py) are labeled and approved
through the API and a first version trained on them (the champion). A project admin then opens the Models
page from the dashboard, saves the model settings (a promotion margin no version can meet, so the new
version stays a candidate), presses Train now (an invalid field is refused next to it first), watches the
curve grow epoch by epoch, sees the new version's per-class test IoU beside the champion's, promotes it,
rolls back, pre-labels the unlabeled tasks with Predict, sorts the task list by uncertainty and sees in the
labeling view which model made the predictions.

Every wait is on what the client exposes (data-view, data-epochs and data-state of the curve, rows'
data-state, the activity rows' data-state), never a sleep."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.actions import html_attr, sign_in
from tests.e2e.conftest import Account, ConsoleErrors, Shot, create_account, open_page, wait_for_view
from tests.jobs import wait_for_job
from tests.training.rounds import label_everything, new_project, upload
from tests.training.synthetic import make_scene

pytest.importorskip("torch", reason="the ml group is not installed: MINELABEL_SKIP_ML=1")
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SITES, DATES, UNLABELED = 6, 2, 3
CLASSES = ["Pit", "Infrastructure", "Outline"]
# Tiny: 128 px scenes in 64 px chips, a shallow resnet18; a first version in a few seconds on a CPU.
DATASET = {"chip_size": 64, "stride": 64, "val_fraction": 0.2, "test_fraction": 0.2}
FIRST = {"epochs": 2, "batch_size": 8, "learning_rate": 3e-3, "encoder": "resnet18", "encoder_depth": 3}
EPOCHS = 8  # of the version trained from the page: enough epochs to see the curve between two of them
# The worker runs one job at a time and the CPU is shared: training waits allow for that.
TRAIN_TIMEOUT_MS = 600_000
JOB_TIMEOUT_MS = 180_000


@dataclass(frozen=True)
class Trained:
    project_id: str
    admin: Account
    reviewer: Account
    first: dict[str, Any]  # the champion, as the API reads it
    unlabeled: tuple[str, ...]  # observation ids of the tasks nobody labeled


@pytest.fixture
def trained(committing_client: TestClient, worker: str, tmp_path: Any) -> Iterator[Trained]:
    client = committing_client
    project_id = new_project(client)
    scenes = {
        f"s{site}_{date:03}.tif": make_scene(site * 10 + date)
        for site in range(SITES)
        for date in range(DATES)
    }
    upload(client, project_id, scenes, tmp_path)
    label_everything(client, project_id, scenes)
    response = client.post(f"/api/projects/{project_id}/train", json={"dataset": DATASET, "options": FIRST})
    assert response.status_code == 202, response.text
    dataset_job = wait_for_job(client, response.json()["id"], timeout_s=180)
    train_job = wait_for_job(client, dataset_job["result"]["train_job_id"], timeout_s=600)
    first = client.get(f"/api/models/{train_job['result']['model_version_id']}").json()
    assert first["is_champion"] and first["name"] == "unet-v1", first
    fresh = {f"new{i}_000.tif": make_scene(500 + i) for i in range(UNLABELED)}
    unlabeled = tuple(o["id"] for o in upload(client, project_id, fresh, tmp_path))

    admin = create_account(client, "ml-engineer")
    reviewer = create_account(client, "reviewer")
    for account, role in ((admin, "admin"), (reviewer, "reviewer")):
        member = client.put(f"/api/projects/{project_id}/members/{account.id}", json={"role": role})
        assert member.status_code == 200, member.text
    yield Trained(project_id, admin, reviewer, first, unlabeled)


def version_row(page: Page, name: str) -> Locator:
    return page.locator(f"table.models tr[data-name='{name}']")


def confirm(page: Page, button: str) -> None:
    dialog = page.locator("dialog.modal[open]")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name=button).click()
    expect(page.locator("dialog.modal[open]")).to_have_count(0)


def fill(page: Page, name: str, value: str) -> None:
    page.locator(f"dialog[open] [name='{name}']").fill(value)


def test_an_ml_engineer_trains_compares_promotes_rolls_back_and_predicts_from_the_models_page(
    page: Page,
    browser: Browser,
    live_server: str,
    console_errors: ConsoleErrors,
    committing_client: TestClient,
    trained: Trained,
    shot: Shot,
) -> None:
    client = committing_client
    project_id = trained.project_id
    # Refused on purpose below: an epoch count of 0, a promotion margin of 2.
    console_errors.allow("status of 422", f"/api/projects/{project_id}/train]")
    console_errors.allow("status of 422", f"/api/projects/{project_id}]")

    # --- The dashboard leads to the Models page -------------------------------------------------------------
    sign_in(page, trained.admin)
    page.goto(f"/#/projects/{project_id}")
    wait_for_view(page, "dashboard")
    page.locator("[data-action=models]").click()
    wait_for_view(page, "models")
    expect(page).to_have_url(re.compile(rf"#/projects/{project_id}/models$"))
    expect(version_row(page, "unet-v1")).to_have_attribute("data-state", "champion")
    expect(page.get_by_test_id("iou-chart")).to_have_attribute("data-versions", "1")
    # Its curve is shown (the newest trained version), one point per epoch.
    curve = page.get_by_test_id("curve")
    expect(curve).to_have_attribute("data-version", "unet-v1")
    expect(curve).to_have_attribute("data-epochs", str(FIRST["epochs"]))
    # Downloads of the champion's files.
    checkpoint = version_row(page, "unet-v1").locator("[data-action=download-checkpoint]")
    expect(checkpoint).to_have_attribute("href", f"/api/models/{trained.first['id']}/checkpoint")
    onnx = version_row(page, "unet-v1").locator("[data-action=download-onnx]")
    assert page.request.get(onnx.get_attribute("href") or "").status == 200

    # --- Model settings: a bad margin is refused next to its field, then a margin no version meets ----------
    margin = page.locator(".model-settings [name=promotion_margin]")
    margin.fill("2")
    page.locator("[data-action=save-settings]").click()
    error = page.locator(".model-settings [data-error-for=promotion_margin]")
    expect(error).to_contain_text("less than or equal to 1")
    expect(margin).to_be_focused()
    margin.fill("1")
    page.locator(".model-settings [name=next_task_order]").select_option("uncertainty")
    page.locator("[data-action=save-settings]").click()
    expect(page.locator(".model-settings")).to_have_attribute("data-saved", "1")
    expect(error).to_be_empty()
    project = client.get(f"/api/projects/{project_id}").json()
    assert project["promotion_margin"] == 1 and project["next_task_order"] == "uncertainty", project

    # --- Train now: the dialog refuses 0 epochs next to the field, then starts the round --------------------
    page.locator("[data-action=train]").click()
    dialog = page.locator("dialog[open]")
    expect(dialog.get_by_role("heading", name="Train now")).to_be_visible()
    fill(page, "options.epochs", "0")
    dialog.locator("[data-action=submit]").click()
    expect(dialog.locator("[data-error-for='options.epochs']")).to_contain_text("greater than or equal to 1")
    expect(dialog.locator("[name='options.epochs']")).to_be_focused()
    fill(page, "options.epochs", str(EPOCHS))
    fill(page, "options.batch_size", "8")
    fill(page, "options.learning_rate", "0.003")
    fill(page, "options.encoder", "resnet18")
    fill(page, "dataset.chip_size", "64")
    fill(page, "dataset.stride", "64")
    dialog.locator("details.more-fields summary").click()
    fill(page, "options.encoder_depth", "3")
    fill(page, "options.seed", "1")
    dialog.locator("[data-action=submit]").click()
    expect(page.locator("dialog[open]")).to_have_count(0)
    expect(page.locator(".activity-row[data-kind=dataset]")).to_have_count(1)

    # The curve of the version training now grows while it trains: seen part-way, then whole.
    expect(curve).to_have_attribute("data-version", "unet-v2", timeout=JOB_TIMEOUT_MS)
    expect(page.locator(".activity-row[data-kind=train]")).to_have_count(1, timeout=JOB_TIMEOUT_MS)
    # One selector, so state and epochs are read at once: training, with some epochs and not all.
    some = ",".join(f"[data-epochs='{n}']" for n in range(1, EPOCHS))
    partway = page.locator(f"[data-testid=curve][data-version=unet-v2][data-state=training]:is({some})")
    expect(partway).to_have_count(1, timeout=TRAIN_TIMEOUT_MS)
    shot(page, "20-models-training")
    expect(curve).to_have_attribute("data-state", "trained", timeout=TRAIN_TIMEOUT_MS)
    expect(curve).to_have_attribute("data-epochs", str(EPOCHS))
    expect(curve.locator("[data-chart=loss] g[data-series='training loss'] circle")).to_have_count(EPOCHS)
    expect(page.locator(".activity-row[data-kind=train]")).to_have_attribute("data-state", "succeeded")

    # --- The new version beside the champion, per class, on the same test sites -----------------------------
    second = next(
        v for v in client.get(f"/api/projects/{project_id}/models").json() if v["name"] == "unet-v2"
    )
    assert second["state"] == "trained" and not second["is_champion"], second
    row = version_row(page, "unet-v2")
    expect(row).to_have_attribute("data-state", "candidate")
    mine = {s["label"]: s for s in second["metrics"]["test"]["per_class"]}
    theirs = {s["label"]: s for s in second["metrics"]["champion_test"]["per_class"]}
    for label in CLASSES:
        cell = row.locator(f"td[data-class='{label}']")
        expect(cell.get_by_test_id("test-iou")).to_have_text(f"{mine[label]['iou']:.3f}")
        expect(cell.get_by_test_id("champion-iou")).to_contain_text(f"unet-v1 {theirs[label]['iou']:.3f}")
    expect(row.get_by_test_id("verdict")).to_have_text(second["promotion"])
    assert "the champion stays" in second["promotion"], second["promotion"]
    expect(row.get_by_test_id("dataset-hash")).to_have_text(second["dataset_hash"][:12])
    # F1, precision and recall on demand.
    f1 = row.locator("td[data-class=Pit] .more-metrics").first
    expect(f1).to_be_hidden()
    page.locator("[data-action=more-metrics]").check()
    expect(f1).to_be_visible()
    expect(f1).to_contain_text(f"F1 {mine['Pit']['f1']:.3f}")
    expect(page.get_by_test_id("iou-chart")).to_have_attribute("data-versions", "2")
    page.get_by_test_id("iou-chart").scroll_into_view_if_needed()
    shot(page, "21-models-versions")

    # --- Promote the candidate, then roll back; both asked first --------------------------------------------
    row.locator("[data-action=promote]").click()
    confirm(page, "Promote")
    expect(row).to_have_attribute("data-state", "champion")
    expect(version_row(page, "unet-v1")).to_have_attribute("data-state", "candidate")
    assert client.get(f"/api/models/{second['id']}").json()["is_champion"]
    page.locator("[data-action=roll-back]").click()
    confirm(page, "Roll back to unet-v1")
    expect(version_row(page, "unet-v1")).to_have_attribute("data-state", "champion")
    expect(row).to_have_attribute("data-state", "candidate")
    back = client.get(f"/api/models/{trained.first['id']}").json()
    assert back["is_champion"] and back["promotion"] == "rolled back from unet-v2", back

    # --- Predict: the champion pre-labels the unlabeled tasks -----------------------------------------------
    page.locator("[data-action=predict]").click()
    dialog = page.locator("dialog[open]")
    expect(dialog.locator("[name=model_version_id]")).to_have_value(trained.first["id"])
    expect(dialog.locator("[name=unlabeled_only]")).to_be_checked()
    dialog.locator("[data-action=submit]").click()
    expect(page.locator("dialog[open]")).to_have_count(0)
    predicting = page.locator(".activity-row[data-kind=predict]")
    expect(predicting).to_have_attribute("data-state", "succeeded", timeout=JOB_TIMEOUT_MS)
    expect(predicting.get_by_test_id("outcome")).to_contain_text(f"on {UNLABELED} images")

    # --- The task list, most uncertain first, with the values --------------------------------------------
    page.get_by_role("link", name="Tasks, most uncertain first").click()
    wait_for_view(page, "tasks")
    expect(page.locator("select[name=sort]")).to_have_value("uncertainty")
    listed = client.get(
        f"/api/projects/{project_id}/tasks", params={"sort": "uncertainty", "limit": 3}
    ).json()
    expected = [t["observation_id"] for t in listed["items"]]
    assert set(expected) == set(trained.unlabeled), listed
    rows = page.locator("table.tasks tbody tr")
    expect(rows.first).to_have_attribute("data-observation-id", expected[0])
    shown = [rows.nth(i).get_attribute("data-observation-id") for i in range(3)]
    assert shown == expected, (shown, expected)
    values = [
        float(rows.nth(i).locator("td.uncertainty").get_attribute("data-uncertainty") or "nan")
        for i in range(3)
    ]
    assert values == sorted(values, reverse=True) and all(0 <= v <= 1 for v in values), values
    expect(rows.nth(0).locator("td.uncertainty")).to_have_text(f"{listed['items'][0]['uncertainty']:.3f}")
    # Series order again: the URL keeps the order.
    page.locator("select[name=sort]").select_option("series")
    expect(page).not_to_have_url(re.compile(r"sort=uncertainty"))
    page.locator("select[name=sort]").select_option("uncertainty")
    expect(page).to_have_url(re.compile(r"sort=uncertainty"))
    expect(rows.first).to_have_attribute("data-observation-id", expected[0])
    shot(page, "22-tasks-by-uncertainty")

    # --- The labeling view says which model made the predictions on screen --------------------------------
    page.goto(f"/#/projects/{project_id}/label/{expected[0]}")
    wait_for_view(page, "labeling")
    html_attr(page, "map-ready", expected[0])
    made_by = page.get_by_test_id("prediction-models")
    expect(made_by).to_have_attribute("data-model-versions", "unet-v1")
    expect(made_by).to_have_text("Made by unet-v1")
    shot(page, "23-predictions-by-model")

    # --- A reviewer reads the page (scores, downloads) without the actions, and has no Models button --------
    other = open_page(browser, live_server, console_errors)
    try:
        sign_in(other, trained.reviewer)
        other.goto(f"/#/projects/{project_id}")
        wait_for_view(other, "dashboard")
        expect(other.locator("[data-action=all-tasks]")).to_be_visible()
        expect(other.locator("[data-action=models]")).to_have_count(0)
        other.goto(f"/#/projects/{project_id}/models")
        wait_for_view(other, "models")
        expect(version_row(other, "unet-v2")).to_have_attribute("data-state", "candidate")
        expect(version_row(other, "unet-v1").locator("[data-action=download-onnx]")).to_be_visible()
        for action in ("train", "predict", "roll-back", "promote", "save-settings"):
            expect(other.locator(f"[data-action={action}]")).to_have_count(0)
    finally:
        other.context.close()
