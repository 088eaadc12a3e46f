"""What `make run` and `make refresh` call: checks that a run can start, then `dg launch`.

Before anything is written it checks the AESYNTH_* parameters, the postcode file and that
the data lake can be written, and refuses to start while another run is in progress in the
same Dagster instance: runs launched from the command line do not pass through the run queue
that serialises the UI's and the schedule's runs, so this is what keeps two runs from writing
the same assets at once. Problems are reported in one line, with exit status 2.

    python -m aesynth_pipeline.launch everything   # every asset and check
    python -m aesynth_pipeline.launch stale        # stale assets and everything downstream
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from aesynth_pipeline.schedules import EVERYTHING_JOB
from aesynth_pipeline.settings import ENVIRONMENT_VARIABLES, Settings, SettingsError

# Runs that hold the lake: a queued run waits for these too.
RUNNING_STATUSES = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
LOCK_FILE = "command-line-run.lock"


class CannotStart(Exception):
    """A reason not to start the run, for the user to act on."""


def checked_settings() -> Settings:
    settings = Settings.from_env()
    if settings.postcodes is not None and not Path(settings.postcodes).is_file():
        raise SettingsError(
            f"{ENVIRONMENT_VARIABLES['postcodes']}: no such file {settings.postcodes!r}"
        )
    require_writable_lake(settings.data_lake)
    return settings


def require_writable_lake(location: str) -> None:
    """Create the lake's folder if needed and write a probe file in it."""
    if "://" in location:
        return
    try:
        Path(location).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=location, prefix=".write-probe."):
            pass
    except OSError as error:
        raise SettingsError(
            f"{ENVIRONMENT_VARIABLES['data_lake']}: cannot write to the data lake at "
            f"{location!r}: {error.strerror or error}"
        ) from error


@contextlib.contextmanager
def only_run(instance: dg.DagsterInstance) -> Iterator[None]:
    """Hold the instance's command-line lock, and make sure no other run is in progress.

    The lock (released by the operating system however this process ends) keeps two
    command-line runs apart; the run storage shows runs from the UI and the schedule.
    """
    home = Path(instance.root_directory)
    home.mkdir(parents=True, exist_ok=True)
    with (home / LOCK_FILE).open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CannotStart(
                "another `make run` or `make refresh` is in progress with this Dagster "
                f"instance ({home}); wait for it to finish"
            ) from None
        running = instance.get_run_records(filters=dg.RunsFilter(statuses=RUNNING_STATUSES))
        if running:
            ids = ", ".join(record.dagster_run.run_id for record in running)
            raise CannotStart(
                f"a run is in progress ({ids}); wait for it to finish, or, if its process is "
                "gone, terminate it on the Runs page of the UI"
            )
        yield


def dg_launch(*arguments: str) -> int:
    command = [str(Path(sys.executable).parent / "dg"), "launch", *arguments]
    return subprocess.run(command, check=False).returncode


def main(argv: list[str]) -> int:
    if argv not in (["everything"], ["stale"]):
        print("usage: python -m aesynth_pipeline.launch everything|stale", file=sys.stderr)
        return 2
    if not os.environ.get("DAGSTER_HOME"):
        print("aesynth: DAGSTER_HOME is not set (make sets it to .dagster_home)", file=sys.stderr)
        return 2
    try:
        settings = checked_settings()
        with dg.DagsterInstance.get() as instance, only_run(instance):
            if argv == ["everything"]:
                return dg_launch("--job", EVERYTHING_JOB)
            # Imported here: loading the definitions reads the parameters, which are checked.
            from aesynth_pipeline.definitions import build_definitions
            from aesynth_pipeline.refresh import refresh_keys, selection_text

            keys = refresh_keys(build_definitions(settings), instance)
            if not keys:
                print("Nothing is stale: every asset is up to date.")
                return 0
            selection = selection_text(keys)
            print(f"Refreshing: {selection}", flush=True)
            return dg_launch("--assets", selection)
    except (SettingsError, CannotStart) as problem:
        print(f"aesynth: {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
