"""Beyond one machine, for real: the Dagster instance in a PostgreSQL server, and the steps of
a run executed by two Celery workers that share the lake's folder, with Redis as their
broker. Every server is this module's own process on a loopback port (see servers.py).
Run with `make test-cluster`."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
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
            yield Cluster(environment, folder / "shared-lake", logs, workers)


@dataclass
class ClusterRun:
    record: dg.RunRecord
    events: list[dg.EventLogEntry]


@pytest.fixture(scope="module")
def cluster_run(cluster: Cluster) -> ClusterRun:
    """The whole job, launched as `make run` launches it, with its steps on the workers."""
    launched = launch(cluster.environment)
    assert launched.returncode == ExitStatus.SUCCEEDED, launched.stdout + cluster.logs_text()
    with instance_of(cluster.environment) as instance:
        [record] = instance.get_run_records(limit=1)
        return ClusterRun(record, instance.all_logs(record.dagster_run.run_id))


LAUNCH = [sys.executable, "-m", "aesynth_pipeline.launch", "everything"]


def launch(environment: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        LAUNCH, env=environment, capture_output=True, text=True, timeout=RUN_SECONDS
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


# The entry dagster-celery's worker adds to the engine event it logs as it takes a step.
CELERY_WORKER = "Celery worker"


def worker_metadata(event: dg.EventLogEntry) -> Mapping[str, dg.MetadataValue]:
    return event.dagster_event.engine_event_data.metadata


def step_workers(events: list[dg.EventLogEntry]) -> dict[str, tuple[str, int]]:
    """Each step's Celery worker and process ID, from the engine event its worker logs as it
    takes the step and the step's own start event."""
    hosts = {
        e.step_key: worker_metadata(e)[CELERY_WORKER].value
        for e in events
        if e.is_dagster_event
        and e.dagster_event_type == dg.DagsterEventType.ENGINE_EVENT
        and CELERY_WORKER in worker_metadata(e)
    }
    pids = {
        e.step_key: e.dagster_event.pid
        for e in events
        if e.is_dagster_event and e.dagster_event_type == dg.DagsterEventType.STEP_START
    }
    return {step: (hosts[step].split("@")[0], pids[step]) for step in pids}


def test_the_whole_job_runs_on_two_celery_workers_as_it_runs_on_one_machine(
    cluster, cluster_run, tmp_path
):
    assert cluster_run.record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
    ran_on = step_workers(cluster_run.events)
    with instance_of(cluster.environment) as instance:
        steps = {
            s.key
            for s in instance.get_execution_plan_snapshot(
                cluster_run.record.dagster_run.execution_plan_snapshot_id
            ).steps
        }
    assert set(ran_on) == steps
    assert {worker for worker, _ in ran_on.values()} == set(WORKERS)
    # Steps ran in the workers' own processes, never in the one that launched the run.
    worker_processes = {worker.pid for worker in cluster.workers.values()}
    assert all(parent_pid(pid) in worker_processes for _, pid in ran_on.values())

    local_lake = tmp_path / "local-lake"
    local = launch(
        {
            **cluster.environment,
            "AESYNTH_DEPLOYMENT": "local",
            "AESYNTH_EXECUTOR": "in_process",
            "AESYNTH_DATA_LAKE": str(local_lake),
            "DAGSTER_HOME": str(local_home(tmp_path / "local-home")),
        }
    )
    assert local.returncode == ExitStatus.SUCCEEDED, local.stdout
    for name in [synthetic_key(mode).path[-1] for mode in MODES] + ["evaluation_report"]:
        pd.testing.assert_frame_equal(
            pd.read_parquet(cluster.lake / f"{name}.parquet"),
            pd.read_parquet(local_lake / f"{name}.parquet"),
            obj=name,
        )


def local_home(folder: Path) -> Path:
    folder.mkdir(parents=True)
    shutil.copy(REPOSITORY / "deploy" / "local-instance.yaml", folder / "dagster.yaml")
    return folder


def parent_pid(pid: int) -> int:
    # The fourth field of /proc/PID/stat, after the command name in parentheses.
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def lake_files(lake: Path) -> dict[str, str]:
    """Every file in the lake, by path, with a hash of its bytes."""
    return {
        str(path.relative_to(lake)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(lake.rglob("*"))
        if path.is_file()
    }


def test_a_worker_lost_mid_step_fails_the_run_keeps_the_lake_whole_and_a_rerun_completes(
    cluster, cluster_run
):
    before = lake_files(cluster.lake)
    first_run = cluster_run.record.dagster_run.run_id
    launcher = subprocess.Popen(
        LAUNCH,
        env=cluster.environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        run_id, killed = kill_the_process_running(KILLED_STEP, cluster, first_run, launcher)
        output, _ = launcher.communicate(timeout=RUN_SECONDS)
    finally:
        launcher.kill()
        launcher.wait()

    assert launcher.returncode == ExitStatus.FAILED, output
    with instance_of(cluster.environment) as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        events = instance.all_logs(run_id)
    succeeded = {e.step_key for e in events if e.dagster_event_type == "STEP_SUCCESS"}
    assert KILLED_STEP not in succeeded and len(succeeded) > len(MODES)
    assert any("WorkerLostError" in str(e.dagster_event) for e in events if e.is_dagster_event), (
        "the run does not say that it lost the step's worker"
    )
    # The killed writer may have left a temporary file; every file the lake had is whole and
    # unchanged (the steps that finished rewrote the same bytes from the same seed).
    after = lake_files(cluster.lake)
    assert {path: after.get(path) for path in before} == before
    assert all(path.endswith(".tmp") for path in set(after) - set(before))
    assert killed not in [worker.pid for worker in cluster.workers.values()]

    rerun = launch(cluster.environment)
    assert rerun.returncode == ExitStatus.SUCCEEDED, rerun.stdout + cluster.logs_text()
    # The rerun's writes cleared what the killed writer left behind.
    assert lake_files(cluster.lake) == before


def kill_the_process_running(
    step: str, cluster: Cluster, previous_run: str, launcher: subprocess.Popen
) -> tuple[str, int]:
    """Wait for the new run to start `step` on a worker, then SIGKILL the process running it,
    as the kernel's out-of-memory killer would: no chance to clean up or to report."""
    run_id, start = next_event(
        cluster, previous_run, launcher, step, dg.DagsterEventType.STEP_START
    )
    os.kill(start.dagster_event.pid, signal.SIGKILL)
    return run_id, start.dagster_event.pid


def next_event(
    cluster: Cluster,
    previous_run: str,
    launcher: subprocess.Popen,
    step: str,
    event_type: dg.DagsterEventType,
    metadata: str | None = None,
) -> tuple[str, dg.EventLogEntry]:
    """The first event of this type for this step (with this metadata entry, if named) in the
    run started after `previous_run`."""
    deadline = time.monotonic() + RUN_SECONDS
    with instance_of(cluster.environment) as instance:
        while time.monotonic() < deadline:
            assert launcher.poll() is None, launcher.stdout.read()
            [record] = instance.get_run_records(limit=1)
            run_id = record.dagster_run.run_id
            if run_id != previous_run:
                for event in instance.all_logs(run_id, of_type=event_type):
                    if event.step_key == step and (
                        metadata is None or metadata in worker_metadata(event)
                    ):
                        return run_id, event
            time.sleep(0.1)
    pytest.fail(f"the run never logged {event_type} for {step}:\n{cluster.logs_text()}")


def test_a_worker_machine_lost_mid_step_leaves_an_interruptible_run_and_the_lake_whole(
    cluster, cluster_run
):
    # Last in this module: one worker is gone for good.
    before = lake_files(cluster.lake)
    with instance_of(cluster.environment) as instance:
        [previous] = instance.get_run_records(limit=1)
    launcher = subprocess.Popen(
        LAUNCH, env=cluster.environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        run_id, taken = next_event(
            cluster,
            previous.dagster_run.run_id,
            launcher,
            KILLED_STEP,
            dg.DagsterEventType.ENGINE_EVENT,
            metadata=CELERY_WORKER,
        )
        lost = worker_metadata(taken)[CELERY_WORKER].value.split("@")[0]
        # The worker and its pool at once, as when its machine goes: nothing is left to say
        # that the step's task ended, so the run waits for it until it is interrupted.
        os.killpg(cluster.workers[lost].pid, signal.SIGKILL)
        launcher.send_signal(signal.SIGINT)
        output, _ = launcher.communicate(timeout=RUN_SECONDS)
    finally:
        launcher.kill()
        launcher.wait()

    assert launcher.returncode == ExitStatus.FAILED, output
    with instance_of(cluster.environment) as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        succeeded = {
            e.step_key for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)
        }
    assert KILLED_STEP not in succeeded
    after = lake_files(cluster.lake)
    assert {path: after.get(path) for path in before} == before

    rerun = launch(cluster.environment)
    assert rerun.returncode == ExitStatus.SUCCEEDED, rerun.stdout + cluster.logs_text()
    assert lake_files(cluster.lake) == before
