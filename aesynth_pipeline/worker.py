"""The Celery application a cluster worker runs (see aesynth_pipeline/cluster.py):

celery --app aesynth_pipeline.worker worker --concurrency 1 --hostname worker-a@%h
"""

from __future__ import annotations

from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

# Imported before the worker forks its pool: each task then rebuilds the job without
# importing the pipeline and its libraries again.
import aesynth_pipeline.definitions  # noqa: F401
from aesynth_pipeline.cluster import celery_settings
from aesynth_pipeline.settings import Settings, SettingsError, variable

_broker = Settings.from_env().celery_broker
if _broker is None:
    raise SettingsError(f"{variable('celery_broker')} is not set: a worker needs its broker")

app = make_app(CeleryExecutor.for_cli(**celery_settings(_broker)).app_args())
execute_plan = create_task(app)
