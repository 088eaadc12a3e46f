"""Beyond one process: the whole job through the multiprocess executor, the same IO
managers on an fsspec URL instead of a local folder, and what each deployment is made of.
(The cluster deployment runs for real in test_cluster.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import dagster as dg
import pandas as pd
import pytest
import yaml
from upath import UPath

from aesynth_pipeline import columns as c
from aesynth_pipeline.definitions import (
    EXECUTORS,
    IN_PROCESS_MAX_ROWS,
    LOCAL_EXECUTOR,
    build_assets,
    build_definitions,
    build_resources,
    everything_job_from_env,
    resources_by_deployment,
)
from aesynth_pipeline.settings import Deployment, Settings

from .conftest import SMALL_RUN

SMALL_RUN_ENVIRONMENT = {
    "AESYNTH_ROWS": str(SMALL_RUN["rows"]),
    "AESYNTH_PSEUDONYM_KEY": SMALL_RUN["pseudonym_key"],
    "AESYNTH_GATE_TOLERANCE_1WAY": str(SMALL_RUN["gate_tolerance_1way"]),
    "AESYNTH_GATE_TOLERANCE_2WAY": str(SMALL_RUN["gate_tolerance_2way"]),
    "AESYNTH_GATE_STANDARD_ERRORS": str(SMALL_RUN["gate_standard_errors"]),
    # The executor's subject is steps in processes, which two modes show as well as four.
    "AESYNTH_MODES": "random,correlated",
    "AESYNTH_EXECUTOR": "multiprocess",
}


def test_a_small_run_runs_in_one_process_and_a_large_one_in_processes_forked_from_a_server(
    tmp_path,
):
    def executor(**settings) -> dg.ExecutorDefinition:
        return build_definitions(Settings(data_lake=str(tmp_path), **settings)).executor

    assert executor() is dg.in_process_executor
    assert executor(rows=IN_PROCESS_MAX_ROWS) is dg.in_process_executor
    assert executor(rows=IN_PROCESS_MAX_ROWS + 1) is LOCAL_EXECUTOR
    assert executor(executor="multiprocess") is LOCAL_EXECUTOR
    assert executor(rows=1_000_000, executor="in_process") is dg.in_process_executor


def test_the_whole_job_runs_through_the_multiprocess_executor(tmp_path, monkeypatch):
    for name, value in {
        **SMALL_RUN_ENVIRONMENT,
        "AESYNTH_DATA_LAKE": str(tmp_path / "lake"),
    }.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "home").mkdir()
    with (
        dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance,
        dg.execute_job(dg.reconstructable(everything_job_from_env), instance=instance) as result,
    ):
        assert result.success
        events = result.all_events
        steps = {e.step_key for e in events if e.is_step_success}
        starts = [e for e in events if e.event_type_value == "STEP_WORKER_STARTED"]
        engine = [e.message for e in events if e.event_type_value == "ENGINE_EVENT"]
    assert len(starts) == len(steps) > 10
    assert any("multiprocess executor" in (message or "") for message in engine)
    report = pd.read_parquet(tmp_path / "lake" / "evaluation_report.parquet")
    assert set(report["mode"]) == {"random", "correlated", "training"}


@pytest.mark.parametrize("url", ["memory://aesynth-test/lake"])
def test_the_lake_works_on_an_fsspec_url(url):
    # No key in the settings, so the lake creates and keeps its own on the object store. Two
    # modes are enough to write every kind of file (aim's JSON is written like correlated's).
    settings = Settings(
        data_lake=url, **{**SMALL_RUN, "pseudonym_key": None, "modes": ("random", "correlated")}
    )
    result = dg.materialize(build_assets(settings), resources=build_resources(settings))
    assert result.success
    lake = UPath(url)
    with (lake / "synthetic_correlated.parquet").open("rb") as file:
        synthetic = pd.read_parquet(file)
    assert list(synthetic.columns) == c.DEIDENTIFIED_COLUMNS
    assert (lake / "description_correlated.json").exists()
    assert (lake / "reports" / "evaluation_report.html").exists()
    assert (lake / "raw" / "pseudonym_key").exists()
    assert not [p for p in lake.rglob("*") if p.name.endswith(".tmp")]


DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_each_deployment_has_its_executor_resources_and_instance_file():
    deployments = set(get_args(Deployment))
    assert deployments == {"local", "cluster", "kubernetes"}
    assert set(EXECUTORS) == set(resources_by_deployment(Settings())) == deployments
    assert {path.name for path in DEPLOY.glob("*-instance.yaml")} == {
        f"{deployment}-instance.yaml" for deployment in deployments
    }


@pytest.mark.parametrize("deployment", ["cluster", "kubernetes"])
def test_the_shared_instances_read_every_database_setting_from_the_environment(deployment):
    instance = yaml.safe_load((DEPLOY / f"{deployment}-instance.yaml").read_text())
    database = instance["storage"]["postgres"]["postgres_db"]
    from_environment = {name: value for name, value in database.items() if name != "scheme"}
    assert from_environment == {
        name: {"env": f"DAGSTER_PG_{variable}"}
        for name, variable in [
            ("hostname", "HOST"),
            ("port", "PORT"),
            ("db_name", "DB"),
            ("username", "USERNAME"),
            ("password", "PASSWORD"),
        ]
    }
