"""The one place where assets, checks and resources are wired together."""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg

from aesynth_pipeline.assets.evaluation import build_evaluation_assets
from aesynth_pipeline.assets.preparation import build_preparation_assets
from aesynth_pipeline.assets.source import build_source_assets
from aesynth_pipeline.assets.synthesis import build_synthesis_assets
from aesynth_pipeline.cluster import cluster_executor
from aesynth_pipeline.io_managers import JsonLake, ParquetLake
from aesynth_pipeline.schedules import EVERYTHING_JOB, build_schedules, everything_job
from aesynth_pipeline.settings import Deployment, Settings


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    return [
        *build_source_assets(settings),
        *build_preparation_assets(settings),
        *build_synthesis_assets(settings),
        *build_evaluation_assets(settings),
    ]


def resources_by_deployment(settings: Settings) -> dict[Deployment, dict[str, object]]:
    """One resource dict per deployment, as Dagster's larger examples keep them: what differs
    between deployments is configuration, not code."""
    lake = {
        "io_manager": ParquetLake(base_path=settings.data_lake),
        "json_io_manager": JsonLake(base_path=settings.data_lake),
    }
    return {
        # A folder on this machine.
        "local": lake,
        # A folder every worker mounts at the same path (or a bucket): a step reads the
        # files that steps on other workers wrote.
        "cluster": lake,
        # Object storage (AESYNTH_DATA_LAKE=s3://...): pods share no folder.
        "kubernetes": lake,
    }


def build_resources(settings: Settings) -> dict[str, object]:
    return resources_by_deployment(settings)[settings.deployment]


# Each step in its own process, forked from a server that has already imported the pipeline
# and its libraries: a fresh interpreter per step would spend seconds on imports alone.
LOCAL_EXECUTOR = dg.multiprocess_executor.configured(
    {"start_method": {"forkserver": {"preload_modules": ["aesynth_pipeline.definitions"]}}},
    name="multiprocess_forkserver",
)


# Up to this many rows a run's steps are quicker one after another in the run's process than
# in parallel processes: each step process costs about a second to start and to read its
# inputs back, and on two cores that is more than running the few steps that can run side by
# side in parallel saves (benchmarks/RESULTS.md, "The whole pipeline", has both executors at
# a million rows). Above it, each step process holds only its own inputs in memory.
IN_PROCESS_MAX_ROWS = 1_000_000


def local_executor(settings: Settings) -> dg.ExecutorDefinition:
    if settings.executor == "auto":
        in_process = settings.rows <= IN_PROCESS_MAX_ROWS
    else:
        in_process = settings.executor == "in_process"
    return dg.in_process_executor if in_process else LOCAL_EXECUTOR


def kubernetes_executor(settings: Settings) -> dg.ExecutorDefinition:
    # Installed only in the Kubernetes image (see deploy/kubernetes-instance.yaml).
    from dagster_k8s import k8s_job_executor

    return k8s_job_executor


EXECUTORS: dict[Deployment, Callable[[Settings], dg.ExecutorDefinition]] = {
    "local": local_executor,
    "cluster": lambda settings: cluster_executor(settings.celery_broker),
    "kubernetes": kubernetes_executor,
}


def build_executor(settings: Settings) -> dg.ExecutorDefinition:
    """Steps in the run's process or in parallel processes on this machine, as tasks for a
    cluster of Celery workers, or one Kubernetes pod per step."""
    return EXECUTORS[settings.deployment](settings)


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=build_assets(settings),
        jobs=[everything_job],
        schedules=build_schedules(settings),
        resources=build_resources(settings),
        executor=build_executor(settings),
    )


def everything_job_from_env() -> dg.JobDefinition:
    """The job `make run` executes, built from the AESYNTH_* environment each time: what a
    step process rebuilds, so every process runs the same parameters."""
    return build_definitions(Settings.from_env()).resolve_job_def(EVERYTHING_JOB)


defs = build_definitions(Settings.from_env())
