"""Beyond one machine, for real: the Dagster instance in a PostgreSQL server, and the steps of
a run executed by two Celery workers that share the lake's folder, with Redis as their
broker. Every server is this module's own process on a loopback port (see servers.py).
Run with `make test-cluster`."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from aesynth_pipeline.assets.keys import EVALUATION_REPORT, synthetic_key
from aesynth_pipeline.definitions import build_definitions, everything_job_from_env
from aesynth_pipeline.run_outcome import ExitStatus
from aesynth_pipeline.settings import Settings

from .servers import Postgres, celery_workers, postgres_server, redis_server, worker_log
from .test_deployment import SMALL_RUN_ENVIRONMENT

pytestmark = pytest.mark.cluster

REPOSITORY = Path(__file__).resolve().parents[1]
CLUSTER_INSTANCE = REPOSITORY / "deploy" / "cluster-instance.yaml"
MODES = ("random", "independent", "correlated")
RUN_ENVIRONMENT = {
    **SMALL_RUN_ENVIRONMENT,
    "AESYNTH_ROWS": "2000",
    "AESYNTH_SEED": "11",
    "AESYNTH_MODES": ",".join(MODES),
}
WORKERS = ["worker-a", "worker-b"]
RUN_SECONDS = 600
# The step killed mid-run: the report, the job's longest step at this size, runs last.
KILLED_STEP = EVALUATION_REPORT.to_python_identifier()


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield server


def dagster_home(folder: Path) -> Path:
    """A Dagster home holding the cluster deployment's instance file, as it is shipped."""
    folder.mkdir(parents=True)
    shutil.copy(CLUSTER_INSTANCE, folder / "dagster.yaml")
    return folder


@dataclass
class Cluster:
    """Redis, two workers, and the environment they share with the launching process."""

    environment: dict[str, str]
    home: Path
    lake: Path
    logs: Path
    workers: dict[str, subprocess.Popen]

    def logs_text(self) -> str:
        return "\n".join(f"--- {name}\n{worker_log(self.logs, name)[-3000:]}" for name in WORKERS)


@pytest.fixture(scope="module")
def cluster(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("cluster")
    logs = folder / "logs"
    logs.mkdir()
    postgres.create_database("cluster")
    with redis_server(logs) as broker:
        environment = {
            **os.environ,
            **RUN_ENVIRONMENT,
            **postgres.environment("cluster"),
            "AESYNTH_DEPLOYMENT": "cluster",
            "AESYNTH_CELERY_BROKER": broker,
            "AESYNTH_DATA_LAKE": str(folder / "shared-lake"),
            "DAGSTER_HOME": str(dagster_home(folder / "home")),
        }
        with celery_workers(WORKERS, environment, logs) as workers:
            yield Cluster(
                environment,
                Path(environment["DAGSTER_HOME"]),
                folder / "shared-lake",
                logs,
                workers,
            )


@pytest.fixture(scope="module")
def cluster_run(cluster: Cluster) -> dict[str, object]:
    """The whole job, launched as `make run` launches it, with its steps on the workers."""
    launched = launch(cluster.environment)
    assert launched.returncode == ExitStatus.SUCCEEDED, launched.stdout + cluster.logs_text()
    with instance_of(cluster.environment) as instance:
        [record] = instance.get_run_records(limit=1)
        events = instance.all_logs(record.dagster_run.run_id)
    return {"record": record, "events": events}


def launch(environment: dict[str, str], **popen: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aesynth_pipeline.launch", "everything"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
        **popen,
    )


@contextlib.contextmanager
def instance_of(environment: dict[str, str]) -> Iterator[dg.DagsterInstance]:
    """A fresh instance read from the Dagster home's file, with the environment's secrets."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            if name.startswith("DAGSTER_"):
                patch.setenv(name, value)
        with dg.DagsterInstance.from_config(environment["DAGSTER_HOME"]) as instance:
            yield instance


def test_postgres_holds_the_run_its_materialisations_and_check_results(postgres, tmp_path):
    postgres.create_database("storage")
    environment = {
        **RUN_ENVIRONMENT,
        **postgres.environment("storage"),
        "AESYNTH_DATA_LAKE": str(tmp_path / "lake"),
        "AESYNTH_EXECUTOR": "in_process",
    }
    home = dagster_home(tmp_path / "home")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        with (
            dg.DagsterInstance.from_config(str(home)) as instance,
            dg.execute_job(dg.reconstructable(everything_job_from_env), instance=instance) as run,
        ):
            assert run.success
            run_id = run.run_id
            materialised = {e.asset_key for e in run.get_asset_materialization_events()}
            checked = {(e.asset_key, e.check_name) for e in run.get_asset_check_evaluations()}

        # Read back through a second instance built from the same file: nothing is in memory.
        with dg.DagsterInstance.from_config(str(home)) as reread:
            assert [type(s).__name__ for s in storages(reread)] == [
                "PostgresRunStorage",
                "PostgresEventLogStorage",
                "PostgresScheduleStorage",
            ]
            record = reread.get_run_record_by_id(run_id)
            assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
            for key in materialised:
                latest = reread.get_latest_materialization_event(key)
                assert latest is not None and latest.run_id == run_id, key
            for key, name in checked:
                [check] = reread.event_log_storage.get_asset_check_execution_history(
                    dg.AssetCheckKey(key, name), limit=1
                )
                assert check.run_id == run_id and check.status.value == "SUCCEEDED", (key, name)

    definitions = build_definitions(Settings.from_env(environment))
    assert materialised == set(definitions.resolve_all_asset_keys())
    assert {synthetic_key(mode) for mode in MODES} <= materialised
    assert len(checked) > len(MODES)
    # And in PostgreSQL's own tables, as any other client of the database sees them.
    connection = postgres.connect("storage")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,))
            assert cursor.fetchall() == [("SUCCESS",)]
            cursor.execute(
                "SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = %s"
                " AND dagster_event_type IN ('ASSET_MATERIALIZATION', 'ASSET_CHECK_EVALUATION')"
                " GROUP BY dagster_event_type",
                (run_id,),
            )
            assert dict(cursor.fetchall()) == {
                "ASSET_MATERIALIZATION": len(materialised),
                "ASSET_CHECK_EVALUATION": len(checked),
            }
            cursor.execute(
                "SELECT count(*) FROM asset_check_executions WHERE run_id = %s", (run_id,)
            )
            assert cursor.fetchone() == (len(checked),)
    finally:
        connection.close()


def storages(instance: dg.DagsterInstance) -> list[object]:
    return [instance.run_storage, instance.event_log_storage, instance.schedule_storage]
