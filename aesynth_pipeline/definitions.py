"""The one place where assets, checks and resources are wired together."""

from __future__ import annotations

import dagster as dg

from aesynth_pipeline.assets.evaluation import build_evaluation_assets
from aesynth_pipeline.assets.preparation import build_preparation_assets
from aesynth_pipeline.assets.source import build_source_assets
from aesynth_pipeline.assets.synthesis import build_synthesis_assets
from aesynth_pipeline.io_managers import JsonLake, ParquetLake
from aesynth_pipeline.schedules import EVERYTHING_JOB, build_schedules, everything_job
from aesynth_pipeline.settings import Settings


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    return [
        *build_source_assets(settings),
        *build_preparation_assets(settings),
        *build_synthesis_assets(settings),
        *build_evaluation_assets(settings),
    ]


def build_resources(settings: Settings) -> dict[str, object]:
    return {
        "io_manager": ParquetLake(base_path=settings.data_lake),
        "json_io_manager": JsonLake(base_path=settings.data_lake),
    }


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


def build_executor(settings: Settings) -> dg.ExecutorDefinition:
    """Steps in the run's process or in parallel processes on this machine, or one Kubernetes
    pod per step."""
    if settings.deployment == "kubernetes":
        # Installed only in the Kubernetes image (see deploy/dagster.yaml).
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    if settings.executor == "auto":
        in_process = settings.rows <= IN_PROCESS_MAX_ROWS
    else:
        in_process = settings.executor == "in_process"
    return dg.in_process_executor if in_process else LOCAL_EXECUTOR


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
