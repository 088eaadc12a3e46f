"""`make run` and `make refresh` as a user starts them (`python -m aesynth_pipeline.launch`):
a bad parameter, an unwritable lake or a run already in progress stops them with one clear
line before anything is written."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import pytest

from aesynth_pipeline.definitions import build_definitions
from aesynth_pipeline.launch import LOCK_FILE
from aesynth_pipeline.settings import ENVIRONMENT_VARIABLES, Settings

from .conftest import SMALL_RUN

HOLDOUT = "AESYNTH_HOLDOUT_SHARE must be between 0 and 1 (exclusive)"
BAD_SETTINGS = {
    "rows-zero": ("AESYNTH_ROWS", "0", "AESYNTH_ROWS must be at least 1, got 0"),
    "rows-negative": ("AESYNTH_ROWS", "-5", "AESYNTH_ROWS must be at least 1, got -5"),
    "rows-not-a-number": ("AESYNTH_ROWS", "ten", "AESYNTH_ROWS must be a whole number, got 'ten'"),
    "epsilon-negative": ("AESYNTH_EPSILON", "-1", "AESYNTH_EPSILON must be 0 or positive, got -1"),
    "epsilon-not-a-number": ("AESYNTH_EPSILON", "lots",
                             "AESYNTH_EPSILON must be a number, got 'lots'"),
    "k-zero": ("AESYNTH_BN_DEGREE", "0", "AESYNTH_BN_DEGREE must be at least 1 and below 8, got 0"),
    "k-every-attribute": ("AESYNTH_BN_DEGREE", "8",
                          "AESYNTH_BN_DEGREE must be at least 1 and below 8, got 8"),
    "holdout-zero": ("AESYNTH_HOLDOUT_SHARE", "0", f"{HOLDOUT}, got 0"),
    "holdout-one": ("AESYNTH_HOLDOUT_SHARE", "1", f"{HOLDOUT}, got 1"),
    "holdout-above-one": ("AESYNTH_HOLDOUT_SHARE", "1.5", f"{HOLDOUT}, got 1.5"),
}  # fmt: skip


REPOSITORY = Path(__file__).resolve().parents[1]


def instance_home(folder: Path) -> Path:
    """A Dagster home configured as `make` configures .dagster_home."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dagster.yaml").write_text(
        (REPOSITORY / "deploy" / "local-instance.yaml").read_text()
    )
    return folder


def launch_command(command: str, home: Path, **variables: str) -> subprocess.Popen:
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("AESYNTH_")},
        "DAGSTER_HOME": str(home),
        **variables,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "aesynth_pipeline.launch", command],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(process: subprocess.Popen) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=300)
    return process.returncode, stdout, stderr


def lake_contents(lake: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in lake.rglob("*") if path.is_file()}


@pytest.fixture(scope="module")
def earlier_lake(tmp_path_factory) -> Path:
    lake = tmp_path_factory.mktemp("lake")
    (lake / "hospital_ae_deidentified.parquet").write_bytes(b"an earlier run's file")
    return lake


@pytest.fixture(scope="module")
def bad_setting_outcomes(tmp_path_factory, earlier_lake) -> dict[str, tuple[int, str, str]]:
    """Every bad value launched at once (each is a separate process), then collected."""
    home = instance_home(tmp_path_factory.mktemp("dagster_home"))
    processes = {
        case: launch_command(
            "everything", home, AESYNTH_DATA_LAKE=str(earlier_lake), **{variable: value}
        )
        for case, (variable, value, _) in BAD_SETTINGS.items()
    }
    return {case: finished(process) for case, process in processes.items()}


@pytest.mark.parametrize("case", list(BAD_SETTINGS))
def test_a_bad_parameter_stops_the_run_with_one_line_naming_it(
    bad_setting_outcomes, earlier_lake, case
):
    returncode, stdout, stderr = bad_setting_outcomes[case]
    _, _, message = BAD_SETTINGS[case]
    assert returncode == 2
    assert stderr == f"aesynth: {message}\n"
    assert stdout == ""
    assert lake_contents(earlier_lake) == {
        earlier_lake / "hospital_ae_deidentified.parquet": b"an earlier run's file"
    }


def test_an_unwritable_lake_stops_the_run_naming_the_path(tmp_path):
    # Root may write anywhere, so the lake is made unwritable by being a file.
    occupied = tmp_path / "not a folder"
    occupied.write_text("someone else's file")
    lake = occupied / "lake"
    returncode, stdout, stderr = finished(
        launch_command("everything", instance_home(tmp_path / "home"), AESYNTH_DATA_LAKE=str(lake))
    )
    assert returncode == 2
    assert stderr == (
        f"aesynth: AESYNTH_DATA_LAKE: cannot write to the data lake at '{lake}': Not a directory\n"
    )
    assert occupied.read_text() == "someone else's file"


def test_a_missing_postcode_file_stops_the_run_naming_it(tmp_path):
    missing = tmp_path / "London postcodes.csv"
    returncode, _, stderr = finished(
        launch_command(
            "everything",
            instance_home(tmp_path / "home"),
            AESYNTH_DATA_LAKE=str(tmp_path / "lake"),
            AESYNTH_POSTCODES=str(missing),
        )
    )
    assert returncode == 2
    assert stderr == f"aesynth: AESYNTH_POSTCODES: no such file '{missing}'\n"


def test_a_run_in_progress_in_the_instance_keeps_a_second_run_from_starting(tmp_path, monkeypatch):
    home = instance_home(tmp_path / "home")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        running = instance.add_run(
            dg.DagsterRun(
                job_name="materialize_everything",
                run_id=str(uuid.uuid4()),
                status=dg.DagsterRunStatus.STARTED,
            )
        )
        returncode, _, stderr = finished(
            launch_command("everything", home, AESYNTH_DATA_LAKE=str(tmp_path / "lake"))
        )
        assert returncode == 2
        assert f"a run is in progress ({running.run_id})" in stderr
        assert [record.dagster_run.run_id for record in instance.get_run_records()] == [
            running.run_id
        ]
    assert not list((tmp_path / "lake").iterdir())


def test_a_command_line_run_in_progress_keeps_a_second_from_starting(tmp_path):
    home = instance_home(tmp_path / "home")
    with (home / LOCK_FILE).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        returncode, _, stderr = finished(
            launch_command("stale", home, AESYNTH_DATA_LAKE=str(tmp_path / "lake"))
        )
    assert returncode == 2
    assert "another `make run` or `make refresh` is in progress" in stderr


def test_refresh_of_an_up_to_date_lake_launches_nothing(tmp_path, monkeypatch):
    home, lake = instance_home(tmp_path / "home"), tmp_path / "lake"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # Whether anything is stale does not depend on which modes ran; two keep the run short.
    settings = {**SMALL_RUN, "rows": 1_000, "modes": ("random", "correlated")}
    defs = build_definitions(Settings(data_lake=str(lake), **settings))
    with dg.DagsterInstance.get() as instance:
        assert (
            defs.resolve_implicit_global_asset_job_def()
            .execute_in_process(instance=instance)
            .success
        )
        runs_before = len(instance.get_run_records())
        variables = {
            ENVIRONMENT_VARIABLES[name]: ",".join(value) if isinstance(value, tuple) else str(value)
            for name, value in settings.items()
        }
        returncode, stdout, stderr = finished(
            launch_command("stale", home, AESYNTH_DATA_LAKE=str(lake), **variables)
        )
        assert (returncode, stdout, stderr) == (
            0,
            "Nothing is stale: every asset is up to date.\n",
            "",
        )
        assert len(instance.get_run_records()) == runs_before
