"""The nightly schedule: its run request for a given night, and the run it asks for."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pandas as pd

from aesynth_pipeline import columns as c
from aesynth_pipeline.assets.keys import HOSPITAL_AE_DATA
from aesynth_pipeline.definitions import build_definitions
from aesynth_pipeline.domain.generate import generate_attendances
from aesynth_pipeline.schedules import (
    EVERYTHING_JOB,
    NIGHT_TAG,
    NIGHTLY_SCHEDULE,
    SEED_TAG,
    nightly_seed,
)
from aesynth_pipeline.settings import Settings

from .conftest import SMALL_RUN

LONDON = dt.timezone(dt.timedelta(hours=0))  # London is on GMT in December


def request_for(settings: Settings, night: dt.date) -> dg.RunRequest:
    schedule = build_definitions(settings).resolve_schedule_def(NIGHTLY_SCHEDULE)
    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime.combine(night, dt.time(2), tzinfo=LONDON)
    )
    [request] = schedule.evaluate_tick(context).run_requests
    return request


def test_the_schedule_runs_everything_at_two_in_the_morning_london_time(tmp_path):
    schedule = build_definitions(Settings(data_lake=str(tmp_path))).resolve_schedule_def(
        NIGHTLY_SCHEDULE
    )
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "Europe/London"
    assert schedule.job_name == EVERYTHING_JOB
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_each_night_gets_its_own_reproducible_seed_recorded_in_the_tags(tmp_path):
    settings = Settings(data_lake=str(tmp_path))
    first = request_for(settings, dt.date(2026, 12, 1))
    again = request_for(settings, dt.date(2026, 12, 1))
    next_night = request_for(settings, dt.date(2026, 12, 2))
    seed = nightly_seed(settings.seed, dt.date(2026, 12, 1))
    assert first.tags[SEED_TAG] == str(seed)
    assert first.tags[NIGHT_TAG] == "2026-12-01"
    op_config = first.run_config["ops"][HOSPITAL_AE_DATA.to_python_identifier()]["config"]
    assert op_config == {"seed": seed}
    assert again.run_config == first.run_config and again.run_key == first.run_key
    assert next_night.tags[SEED_TAG] != first.tags[SEED_TAG]
    assert not first.stale_assets_only


def test_the_requested_run_regenerates_the_mock_data_from_the_nights_seed(tmp_path):
    # The synthesis modes do not matter here; the quickest two keep the run short.
    settings = Settings(data_lake=str(tmp_path), **SMALL_RUN, modes=("random", "independent"))
    request = request_for(settings, dt.date(2026, 12, 1))
    job = build_definitions(settings).resolve_job_def(EVERYTHING_JOB)
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            run_config=request.run_config, tags=request.tags, instance=instance
        )
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        assert run.tags[SEED_TAG] == request.tags[SEED_TAG]
    seed = int(request.tags[SEED_TAG])
    attendances = pd.read_parquet(tmp_path / "raw" / "hospital_ae_data.parquet")
    directory = pd.read_parquet(tmp_path / "london_postcodes.parquet")
    pd.testing.assert_frame_equal(
        attendances, generate_attendances(directory, SMALL_RUN["rows"], seed)
    )
    assert (tmp_path / "reports" / "evaluation_report.html").is_file()
    assert attendances[c.HEALTH_SERVICE_ID].is_unique


def test_the_stale_only_option_asks_for_stale_assets_and_keeps_the_seed(tmp_path):
    settings = Settings(data_lake=str(tmp_path), nightly_stale_only=True)
    request = request_for(settings, dt.date(2026, 12, 1))
    assert request.stale_assets_only
    assert SEED_TAG not in request.tags
    assert not request.run_config
