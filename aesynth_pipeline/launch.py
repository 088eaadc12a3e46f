"""What `make run` and `make refresh` call: checks that a run can start, runs the job, follows
the run and sums it up.

Before anything is written it checks the AESYNTH_* parameters, the postcode file, your own
attendances file (against the data contract) and that the data lake can be written, and
refuses to start while another run is in progress in the same Dagster instance: runs
launched from the command line do not pass through the run queue that serialises the UI's
and the schedule's runs, so this is what keeps two runs from writing the same assets at once.
Problems are reported in one line.

    python -m aesynth_pipeline.launch everything   # every asset and check
    python -m aesynth_pipeline.launch stale        # stale assets and everything downstream

Run directly, it needs DAGSTER_HOME set. The job runs in this process, as `dg launch` would
run it in its own (a second interpreter would import the whole pipeline again, seconds of a
small run), with the executor the parameters choose.

Dagster's own output (every event, and any traceback) goes to a log file,
$DAGSTER_HOME/logs/<UTC time>-<everything|stale>.log. The terminal shows one line per asset
as it is materialised, then a summary: the outcome and wall time, the release verdict and
the report when the evaluation report ran, and where the data lake and the log are.

Exit status:
    0  the run succeeded (or, for `stale`, nothing was stale)
    1  anything else went wrong: a step other than a release-gate check failed, the run
       crashed or was interrupted; one line per failed step names its error
    2  bad input before the run started: a parameter, the postcode file, the attendances
       file, the data lake, or another run in progress
    3  the release was blocked: the run failed only at release-gate checks; one line per
       failed rule says which mode broke it
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import dagster as dg

# Dagster's own command line (`dagster job execute`, `dg launch`) runs jobs inside this
# context: an interrupt then stops the run between steps' events instead of anywhere.
from dagster._utils.interrupts import capture_interrupts

from aesynth_pipeline.domain.extract import (
    AttendanceFileError,
    read_extract,
    require_within_share,
)
from aesynth_pipeline.run_outcome import (
    ExitStatus,
    Launch,
    RunProgress,
    event_log_lines,
    exit_status,
    summary_lines,
)
from aesynth_pipeline.settings import ENVIRONMENT_VARIABLES, Settings, SettingsError

# Runs that hold the lake: a queued run waits for these too.
RUNNING_STATUSES = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
LOCK_FILE = "command-line-run.lock"
POLL_SECONDS = 0.5


class CannotStart(Exception):
    """A reason not to start the run, for the user to act on."""


def checked_settings() -> Settings:
    settings = Settings.from_env()
    if settings.postcodes is not None and not Path(settings.postcodes).is_file():
        raise SettingsError(
            f"{ENVIRONMENT_VARIABLES['postcodes']}: no such file {settings.postcodes!r}"
        )
    if settings.attendances is not None:
        require_usable_attendances(settings)
    require_writable_lake(settings.data_lake)
    return settings


def require_usable_attendances(settings: Settings) -> None:
    """Judge your own attendances file against the data contract before anything is written:
    a file-level problem, or too many rows that break the contract, stops here."""
    try:
        extract = read_extract(settings.attendances, settings.attendance_domain())
        require_within_share(
            extract, settings.max_rejected_share, ENVIRONMENT_VARIABLES["max_rejected_share"]
        )
    except AttendanceFileError as problem:
        raise SettingsError(f"{ENVIRONMENT_VARIABLES['attendances']}: {problem}") from None


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


def new_log_path(instance: dg.DagsterInstance, command: str) -> Path:
    folder = Path(instance.root_directory) / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return folder / f"{started}-{command}.log"


def launched_run(instance: dg.DagsterInstance, launched_at: dt.datetime) -> dg.RunRecord | None:
    """The run `execute` created: only_run saw no run in progress, and holds the lock that
    keeps other command-line launches out, so it is the first run created since."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(created_after=launched_at), limit=1, ascending=True
    )
    return records[0] if records else None


def launch_and_follow(
    instance: dg.DagsterInstance,
    settings: Settings,
    command: str,
    selection: list[dg.AssetKey] | None = None,
) -> ExitStatus:
    log_path = new_log_path(instance, command)
    print(f"Dagster's output goes to {log_path}", flush=True)
    started = time.monotonic()
    launched_at = dt.datetime.now(dt.UTC)
    with log_path.open("a") as log, output_to(log) as terminal:
        follower = Follower(instance, launched_at, terminal)
        follower.start()
        try:
            error = execute(instance, selection)
        finally:
            progress = follower.finish()
        if progress is not None:
            log.write("\n# The run's whole event log, as the Dagster instance stores it\n")
            log.write("\n".join(event_log_lines(instance, progress.run_id)) + "\n")
    run = instance.get_run_record_by_id(progress.run_id) if progress else None
    launch = Launch(log_path, settings.data_lake, error, time.monotonic() - started)
    print()
    print("\n".join(summary_lines(run, progress, launch)), flush=True)
    return exit_status(run, progress)


def execute(instance: dg.DagsterInstance, selection: list[dg.AssetKey] | None) -> str | None:
    """Run the job in this process, as `dg launch` would in its own: the run, its events and
    its steps are the same, without a second interpreter importing the pipeline again.
    Returns why the run could not be executed (its traceback goes to the log), or None."""
    # Imported here: loading the definitions reads the parameters, which are checked first.
    from aesynth_pipeline.definitions import everything_job_from_env

    try:
        # As `dg launch` does: Ctrl-C stops the run at the next safe point, and the run
        # records that it was interrupted.
        with (
            capture_interrupts(),
            dg.execute_job(
                dg.reconstructable(everything_job_from_env),
                instance=instance,
                asset_selection=selection,
                raise_on_error=False,
            ),
        ):
            return None
    except Exception as error:  # noqa: BLE001 - any failure to run is reported, not raised
        traceback.print_exc()
        return f"{type(error).__name__}: {error}"


@contextlib.contextmanager
def output_to(log: TextIO) -> Iterator[TextIO]:
    """Send everything written to standard output and error, by this process and by the step
    processes it starts, to `log`; yield the terminal's standard output for progress lines."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {stream: os.dup(stream) for stream in (1, 2)}
    terminal = os.fdopen(os.dup(saved[1]), "w", buffering=1, encoding="utf-8")
    try:
        for stream in saved:
            os.dup2(log.fileno(), stream)
        yield terminal
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for stream, original in saved.items():
            os.dup2(original, stream)
            os.close(original)
        terminal.close()


class Follower(threading.Thread):
    """Prints each asset as the run materialises it, until told the run has ended.

    The last read happens after the run has ended, so it sees every event.
    """

    def __init__(self, instance: dg.DagsterInstance, launched_at: dt.datetime, out: TextIO):
        super().__init__(daemon=True)
        self.instance, self.launched_at, self.out = instance, launched_at, out
        self.progress: RunProgress | None = None
        self.ended = threading.Event()

    def run(self) -> None:
        while True:
            ended = self.ended.is_set()
            if self.progress is None and (run := launched_run(self.instance, self.launched_at)):
                self.progress = RunProgress(run.dagster_run.run_id)
            if self.progress is not None:
                for materialised in self.progress.read_new_events(self.instance):
                    print(materialised.progress_line(), file=self.out, flush=True)
            if ended:
                return
            self.ended.wait(POLL_SECONDS)

    def finish(self) -> RunProgress | None:
        self.ended.set()
        self.join()
        return self.progress


def main(argv: list[str]) -> int:
    if argv not in (["everything"], ["stale"]):
        print("usage: python -m aesynth_pipeline.launch everything|stale", file=sys.stderr)
        return ExitStatus.BAD_INPUT
    if not os.environ.get("DAGSTER_HOME"):
        print("aesynth: DAGSTER_HOME is not set (make sets it to .dagster_home)", file=sys.stderr)
        return ExitStatus.BAD_INPUT
    [command] = argv
    try:
        settings = checked_settings()
        with dg.DagsterInstance.get() as instance, only_run(instance):
            if command == "everything":
                return launch_and_follow(instance, settings, command)
            # Imported here: loading the definitions reads the parameters, which are checked.
            from aesynth_pipeline.definitions import build_definitions
            from aesynth_pipeline.refresh import refresh_keys, selection_text

            keys = refresh_keys(build_definitions(settings), instance)
            if not keys:
                print("Nothing is stale: every asset is up to date.")
                return ExitStatus.SUCCEEDED
            print(f"Refreshing: {selection_text(keys)}", flush=True)
            return launch_and_follow(instance, settings, command, sorted(keys))
    except (SettingsError, CannotStart) as problem:
        print(f"aesynth: {problem}", file=sys.stderr)
        return ExitStatus.BAD_INPUT
    except KeyboardInterrupt:
        print("aesynth: interrupted", file=sys.stderr)
        return ExitStatus.FAILED


if __name__ == "__main__":
    status = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is written and closed by now; tearing the interpreter's modules down one by
    # one (pandas, scikit-learn, matplotlib, JAX, ...) took a further 1.4 s after a 10k-row run.
    os._exit(status)
