"""The job that materialises everything, and its nightly schedule."""

import datetime as dt

import dagster as dg
import numpy as np

from aesynth_pipeline.assets.keys import HOSPITAL_AE_DATA
from aesynth_pipeline.assets.source import MockDataConfig
from aesynth_pipeline.settings import Settings

EVERYTHING_JOB = "materialize_everything"
NIGHTLY_SCHEDULE = "nightly_regeneration"
SEED_TAG = "aesynth/seed"
NIGHT_TAG = "aesynth/night"

everything_job = dg.define_asset_job(
    EVERYTHING_JOB,
    selection=dg.AssetSelection.all(),
    description="Materialise every asset and run every asset check.",
)


def nightly_seed(base_seed: int, night: dt.date) -> int:
    """The mock-data seed of one night: different every night, the same whenever recomputed."""
    return int(np.random.SeedSequence([base_seed, night.toordinal()]).generate_state(1)[0])


def build_schedules(settings: Settings) -> list[dg.ScheduleDefinition]:
    @dg.schedule(
        name=NIGHTLY_SCHEDULE,
        job=everything_job,
        cron_schedule="0 2 * * *",
        execution_timezone="Europe/London",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def nightly_regeneration(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        """Every night at 02:00 London time: regenerate everything from a seed derived from
        the date (or, with AESYNTH_NIGHTLY_STALE_ONLY, recompute only what is stale)."""
        night = context.scheduled_execution_time.date()
        if settings.nightly_stale_only:
            return dg.RunRequest(
                run_key=f"stale-{night.isoformat()}",
                stale_assets_only=True,
                tags={NIGHT_TAG: night.isoformat()},
            )
        seed = nightly_seed(settings.seed, night)
        op_name = HOSPITAL_AE_DATA.to_python_identifier()
        return dg.RunRequest(
            run_key=f"nightly-{night.isoformat()}",
            run_config=dg.RunConfig(ops={op_name: MockDataConfig(seed=seed)}),
            tags={SEED_TAG: str(seed), NIGHT_TAG: night.isoformat()},
        )

    return [nightly_regeneration]
