"""The cluster deployment: each step of a run is a Celery task, run by whichever worker takes
it from the broker; the workers share the data lake's folder (or bucket) and the Dagster
instance's PostgreSQL database (deploy/cluster-instance.yaml).

Start a worker on each machine with the same AESYNTH_* and DAGSTER_PG_* variables as the
process that launches runs (a worker rebuilds the job from them):

    celery --app aesynth_pipeline.worker worker --concurrency 1 --hostname worker-a@%h

Dagster's Celery executor, not its Dask one: the Celery executor drives the run with
Dagster's own step loop, so retry policies, blocking checks that skip what depends on them,
and each step's view of what upstream produced work as they do on one machine. dagster-dask
submits the whole plan to Dask up front with retries disabled, and hands a step's events
back only once the step has finished.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

# What the executor and the workers agree on besides the broker. Tasks are acknowledged
# when a worker takes them (Celery's default): a worker process lost mid-step fails that
# step and the run, where late acknowledgement would have the broker hand the half-done
# step to another worker behind Dagster's back, even a step that kills every worker it
# lands on. One step per worker process at a time.
CELERY_CONFIG_SOURCE: dict[str, Any] = {
    "worker_prefetch_multiplier": 1,
    "broker_connection_retry_on_startup": True,
}


def celery_settings(broker: str) -> dict[str, Any]:
    """The Celery executor's configuration: the broker also keeps the tasks' results."""
    return {"broker": broker, "backend": broker, "config_source": CELERY_CONFIG_SOURCE}


def cluster_executor(broker: str) -> dg.ExecutorDefinition:
    # Imported here: dagster-celery is installed with the `cluster` extra only.
    from dagster_celery import celery_executor

    return celery_executor.configured(celery_settings(broker), name="celery_cluster")
