"""The web UI as a person uses it: `make ui` on a free loopback port, driven in headless
Chromium. Run with `make test-e2e`; each step's screenshot lands in test-artifacts/e2e/."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from aesynth_pipeline.assets.keys import DEIDENTIFIED
from aesynth_pipeline.definitions import build_definitions
from aesynth_pipeline.domain.modes import MODES
from aesynth_pipeline.schedules import EVERYTHING_JOB
from aesynth_pipeline.settings import Settings

pytestmark = pytest.mark.e2e

REPOSITORY = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPOSITORY / "test-artifacts" / "e2e"
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling home, which a closed
# network refuses over and over.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_SECONDS = 120
RUN_SECONDS = 600


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_server(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"make ui exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail(
        f"make ui did not answer within {SERVER_START_SECONDS} s:\n{log.read_text()[-3000:]}"
    )


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e-lake")


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """The Dagster home `make ui` sets up (with the run queue), in a temporary folder."""
    return tmp_path_factory.mktemp("e2e-dagster-home")


@pytest.fixture(scope="module")
def port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def server(home, port, lake) -> Iterator[str]:
    """`make ui` as a user starts it, with its own Dagster home and lake, in its own process
    group, stopped by one signal to the group, pass or fail."""
    log = home / "make-ui.log"
    environment = {**os.environ, "AESYNTH_DATA_LAKE": str(lake)}
    with log.open("w") as output:
        process = subprocess.Popen(
            ["make", "ui", f"UI_PORT={port}", f"DAGSTER_HOME={home}"],
            cwd=REPOSITORY,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url, process, log)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def page(server):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(30_000)
        try:
            yield page
        finally:
            browser.close()


def dismiss_welcome(page) -> None:
    """The UI greets a new browser with an invitation to its community; skip it."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=5_000)
        skip.click()
    except Exception:  # noqa: BLE001 - no greeting is fine
        pass


GROUPS = ("sources", "preparation", "synthesis", "evaluation")


def non_loopback_address() -> str:
    """This machine's address on its network (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.254.254.254", 9))
        return probe.getsockname()[0]


def test_the_ui_answers_on_loopback_only(server, port):
    with urllib.request.urlopen(f"{server}/server_info", timeout=5) as response:
        assert response.status == 200
    address = non_loopback_address()
    assert not address.startswith("127."), "this machine has no network address to try"
    # A socket listening on every interface is reachable at that address...
    with socket.create_server(("0.0.0.0", 0)) as everywhere:
        socket.create_connection((address, everywhere.getsockname()[1]), 5).close()
    # ...and the UI's is not.
    with pytest.raises(OSError), socket.create_connection((address, port), 5):
        pass


def test_the_asset_graph_shows_every_asset(page, server, lake):
    page.goto(f"{server}/asset-groups")
    dismiss_welcome(page)
    page.get_by_role("button", name="Materialize all").wait_for()
    for group in GROUPS:
        # The sidebar lists each group's assets by name once its caret is clicked.
        label = page.get_by_text(group, exact=True).first
        box = label.bounding_box()
        page.mouse.click(box["x"] - 42, box["y"] + box["height"] / 2)
    page.mouse.click(900, 300)
    page.keyboard.press("Alt+KeyE")  # the graph's own "Expand all groups" shortcut
    specs = build_definitions(Settings(data_lake=str(lake))).resolve_all_asset_specs()
    names = [spec.key.path[-1] for spec in specs]
    for name in names:
        page.get_by_text(name, exact=True).first.wait_for()
    page.screenshot(path=SCREENSHOTS / "01-asset-graph.png")
    # The postcode directory, five raw and de-identified tables, the disclosure risk, the
    # split's two halves, two assets per mode and the report.
    assert len(names) == 10 + 2 * len(MODES)


def test_materialize_all_runs_to_success(page, server):
    page.goto(f"{server}/asset-groups")
    dismiss_welcome(page)
    page.get_by_role("button", name="Materialize all").click()
    page.get_by_text(re.compile("launched", re.IGNORECASE)).first.wait_for()
    page.screenshot(path=SCREENSHOTS / "02-run-launched.png")
    # A fresh instance holds this one run, so its status is the only one on the runs page.
    deadline = time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline:
        page.goto(f"{server}/runs")
        page.get_by_text("Launched by", exact=True).wait_for()
        if page.get_by_text("Success", exact=True).count():
            break
        for bad in ("Failure", "Canceled"):
            assert not page.get_by_text(bad, exact=True).count(), f"the run ended in {bad}"
        time.sleep(10)
    else:
        pytest.fail(f"the run did not finish within {RUN_SECONDS} s")
    page.screenshot(path=SCREENSHOTS / "03-run-succeeded.png")


def test_the_evaluation_report_shows_its_summary(page, server):
    page.goto(f"{server}/assets/evaluation_report")
    dismiss_welcome(page)
    page.get_by_text("summary", exact=True).first.wait_for()
    page.get_by_text("recommended mode", exact=True).first.wait_for()
    page.get_by_text("release verdict", exact=True).first.wait_for()
    # The summary table opens in a dialog from its metadata row.
    summary = page.get_by_role("row").filter(has=page.get_by_text("summary", exact=True))
    summary.get_by_text("[Show Markdown]").click()
    dialog = page.get_by_role("dialog")
    for mode in MODES:
        dialog.get_by_text(mode, exact=True).first.wait_for()
    dialog.get_by_text("Recommended for release:", exact=False).first.wait_for()
    page.wait_for_timeout(1_000)  # the dialog fades in
    page.screenshot(path=SCREENSHOTS / "04-evaluation-report.png")


def test_the_correlated_synthetic_dataset_shows_its_row_count(page, server, lake):
    rows = len(pd.read_parquet(lake / "synthetic_correlated.parquet"))
    page.goto(f"{server}/assets/synthetic_correlated")
    dismiss_welcome(page)
    page.get_by_text("Row count", exact=True).first.wait_for()
    page.get_by_text(f"{rows:,}", exact=True).first.wait_for()
    page.screenshot(path=SCREENSHOTS / "05-synthetic-correlated.png")


def test_two_runs_launched_at_once_run_one_after_the_other(server, port, home, lake):
    from dagster_graphql import DagsterGraphQLClient

    defs = build_definitions(Settings(data_lake=str(lake)))
    foundation = dg.AssetSelection.assets(DEIDENTIFIED).upstream()
    keys = sorted(foundation.resolve(defs.resolve_asset_graph()))
    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    run_ids = [client.submit_job_execution(EVERYTHING_JOB, asset_selection=keys) for _ in "ab"]

    with dg.DagsterInstance.from_config(str(home)) as instance:
        deadline = time.monotonic() + RUN_SECONDS
        while True:
            records = [instance.get_run_record_by_id(run_id) for run_id in run_ids]
            if all(record.dagster_run.is_finished for record in records):
                break
            assert time.monotonic() < deadline, "the two runs did not finish in time"
            time.sleep(2)
    assert [record.dagster_run.status for record in records] == [dg.DagsterRunStatus.SUCCESS] * 2
    first, second = sorted(records, key=lambda record: record.start_time)
    # The queue (max_concurrent_runs: 1) held the second run back until the first ended.
    assert first.end_time <= second.start_time
