"""The jobs panel in the browser, against the real backend and worker: a project admin reaches it from the
dashboard, sees a failed probe's error and a finished export's download link, watches a long probe's
progress move, opens its attempt log and cancels it, and filters by state (kept in the URL); an annotator
of the project sees the same jobs read-only (no Cancel, no download of others' files) and no Jobs link.

Every wait is on what the client exposes (data-view on <html>; data-job-id, data-state, data-progress and
data-cancel-requested on each row; data-polling on the list), never a sleep."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.actions import sign_in
from tests.e2e.conftest import (
    Account,
    ConsoleErrors,
    E2EAccounts,
    E2EProject,
    Shot,
    create_account,
    open_page,
    wait_for_view,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# The worker runs one job at a time: a job waits behind those before it, so waits allow for that.
JOB_TIMEOUT_MS = 90_000
# A probe long enough to watch (60 s unless cancelled) with a progress report every 0.3 s.
LONG_PROBE = {"steps": 200, "step_seconds": 0.3}
POSITIVE = re.compile(r"^0\.\d*[1-9]")  # data-progress above 0 and below 1


def submit_probe(client: TestClient, project_id: str, **params: object) -> str:
    """A probe job of the project, submitted as the site admin (not a member of the project)."""
    response = client.post("/api/jobs/probe", json={"project_id": project_id, **params})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def job_row(page: Page, job_id: str) -> Locator:
    return page.locator(f"tr[data-job-id='{job_id}']")


def project_admin(client: TestClient, project: E2EProject) -> Account:
    account = create_account(client, "project-admin")
    member = client.put(f"/api/projects/{project.project_id}/members/{account.id}", json={"role": "admin"})
    assert member.status_code == 200, member.text
    return account


def test_a_project_admin_follows_cancels_and_filters_jobs_and_an_annotator_only_reads_them(
    page: Page,
    browser: Browser,
    live_server: str,
    console_errors: ConsoleErrors,
    committing_client: TestClient,
    e2e_project: E2EProject,
    e2e_accounts: E2EAccounts,
    shot: Shot,
) -> None:
    site_admin = committing_client
    project_id = e2e_project.project_id
    admin = project_admin(site_admin, e2e_project)

    # --- A probe that fails and an export, made by the site admin -------------------------------------------
    failing = submit_probe(site_admin, project_id, steps=2, fail_with="disk on fire")
    exported = site_admin.post(
        f"/api/projects/{project_id}/exports", params={"format": "geojson", "all_states": "true"}
    )
    assert exported.status_code == 202, exported.text
    export = str(exported.json()["id"])

    # --- The project admin reaches the panel from the dashboard's toolbar -----------------------------------
    sign_in(page, admin)
    page.goto(f"/#/projects/{project_id}")
    wait_for_view(page, "dashboard")
    page.locator("[data-action=jobs]").click()
    wait_for_view(page, "jobs")
    expect(page).to_have_url(re.compile(rf"#/projects/{project_id}/jobs$"))

    # The failed probe shows its error in full; the export, once done, a link to its file.
    expect(job_row(page, failing)).to_have_attribute("data-state", "failed", timeout=JOB_TIMEOUT_MS)
    error = site_admin.get(f"/api/jobs/{failing}").json()["error"]
    assert "disk on fire" in error, error
    expect(job_row(page, failing).get_by_test_id("job-error")).to_have_text(error)  # in full
    expect(job_row(page, export)).to_have_attribute("data-state", "succeeded", timeout=JOB_TIMEOUT_MS)
    download = job_row(page, export).locator("a[data-action=download]")
    expect(download).to_have_attribute("href", f"/api/jobs/{export}/file")
    served = page.request.get(f"/api/jobs/{export}/file")
    assert served.status == 200, served.text()
    assert "FeatureCollection" in served.text()
    # The upload of the project's imagery is a job of the project too.
    expect(page.locator("tr[data-kind=ingest][data-state=succeeded]")).to_have_count(1)
    # Nothing moves any more: the panel stops asking.
    expect(page.locator(".job-list")).to_have_attribute("data-polling", "false")

    # --- A long probe: the dashboard counts it, the panel shows it moving -----------------------------------
    long = submit_probe(site_admin, project_id, **LONG_PROBE)
    page.goto(f"/#/projects/{project_id}")
    wait_for_view(page, "dashboard")
    jobs_link = page.locator("[data-action=jobs]")
    expect(jobs_link).to_have_attribute("data-active-jobs", "1")
    expect(jobs_link).to_contain_text(re.compile(r"1 (running|queued)"))
    jobs_link.click()
    wait_for_view(page, "jobs")
    row = job_row(page, long)
    expect(row).to_have_attribute("data-state", "running", timeout=JOB_TIMEOUT_MS)
    expect(row).to_have_attribute("data-progress", POSITIVE)
    first = row.get_attribute("data-progress") or ""
    expect(row).not_to_have_attribute("data-progress", first)
    second = row.get_attribute("data-progress") or ""
    assert 0 < float(first) < float(second) < 1, (first, second)
    bar = row.get_by_role("progressbar")
    expect(bar).to_have_attribute("aria-valuenow", re.compile(r"^\d+$"))
    expect(bar).to_have_attribute("aria-valuetext", re.compile(r"^\d+% · .*step \d+ of 200"))
    expect(bar).to_have_attribute("aria-valuetext", re.compile(r" left · "))  # an ETA once it has a pace
    expect(page.locator(".job-list")).to_have_attribute("data-polling", "true")
    # The attempt log, on demand.
    attempts = row.locator("td.attempts details")
    expect(attempts.locator("summary")).to_have_text("1 of 3")
    attempts.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(attempts.locator(".attempt-log li")).to_contain_text("Attempt 1 running")
    shot(page, "jobs-panel")

    # --- Cancel: "cancelling…" until the worker stops it, then cancelled ------------------------------------
    cancel = row.locator("button[data-action=cancel]")
    expect(cancel).to_be_visible()
    cancel.click()
    expect(row).to_have_attribute("data-cancel-requested", "true")
    expect(row).to_have_attribute("data-state", "cancelled")
    expect(row.locator("button[data-action=cancel]")).to_have_count(0)
    expect(attempts.locator(".attempt-log li")).to_contain_text("Attempt 1 cancelled")  # still open
    assert site_admin.get(f"/api/jobs/{long}").json()["state"] == "cancelled"
    expect(page.locator(".job-list")).to_have_attribute("data-polling", "false")

    # --- Filters by state, kept in the URL -----------------------------------------------------------------
    page.locator("select[name=state]").select_option("failed")
    expect(page).to_have_url(re.compile(r"\?state=failed$"))
    expect(page.locator("tr[data-job-id]")).to_have_count(1)
    expect(job_row(page, failing)).to_be_visible()
    page.reload()
    wait_for_view(page, "jobs")
    expect(page.locator("select[name=state]")).to_have_value("failed")
    expect(page.locator("tr[data-job-id]")).to_have_count(1)
    page.locator("select[name=state]").select_option("active")
    expect(page.locator(".empty")).to_contain_text("No queued or running jobs.")
    page.get_by_role("button", name="Show all jobs").click()
    expect(page).to_have_url(re.compile(rf"#/projects/{project_id}/jobs$"))
    expect(page.locator("tr[data-job-id]")).to_have_count(4)  # ingest, failing, export, long

    # --- An annotator: no Jobs link; the panel read-only for others' jobs ----------------------------------
    annotator_page = open_page(browser, live_server, console_errors)
    try:
        sign_in(annotator_page, e2e_accounts.annotator)
        annotator_page.goto(f"/#/projects/{project_id}")
        wait_for_view(annotator_page, "dashboard")
        expect(annotator_page.locator("[data-action=all-tasks]")).to_be_visible()
        expect(annotator_page.locator("[data-action=jobs]")).to_have_count(0)

        annotator_page.goto(f"/#/projects/{project_id}/jobs")
        wait_for_view(annotator_page, "jobs")
        expect(annotator_page.locator("tr[data-job-id]")).to_have_count(4)
        expect(annotator_page.locator(".job-list")).to_have_attribute("data-polling", "false")
        # Another long job appears on Refresh, and moves, but the annotator may not cancel it.
        other = submit_probe(site_admin, project_id, **LONG_PROBE)
        annotator_page.get_by_role("button", name="Refresh").click()
        theirs = job_row(annotator_page, other)
        expect(theirs).to_have_attribute("data-state", "running", timeout=JOB_TIMEOUT_MS)
        expect(theirs).to_have_attribute("data-progress", POSITIVE)
        expect(theirs.locator("[data-action=cancel]")).to_have_count(0)
        expect(annotator_page.locator("[data-action=cancel]")).to_have_count(0)
        # Another's export: no download link (the file is its maker's and the project admins').
        expect(job_row(annotator_page, export).locator("a[data-action=download]")).to_have_count(0)
        expect(job_row(annotator_page, export)).to_contain_text("Only its maker and project admins")
        expect(job_row(annotator_page, failing).get_by_test_id("job-error")).to_contain_text("disk on fire")
        # Its maker cancels it; the annotator's panel follows.
        cancelled = site_admin.post(f"/api/jobs/{other}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        expect(theirs).to_have_attribute("data-state", "cancelled")
        expect(annotator_page.locator(".job-list")).to_have_attribute("data-polling", "false")
    finally:
        annotator_page.context.close()
