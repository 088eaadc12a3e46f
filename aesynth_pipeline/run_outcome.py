"""What a run launched from the command line did, read from the Dagster instance's event log.

`launch.py` runs the job with its output sent to a log file, and follows the run here
instead: `RunProgress` reads the run's new event records on each poll (assets materialised,
steps failed, check evaluations), `exit_status` turns the finished run into the command's
exit status, and `summary_lines` into the few lines a user reads at the end.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from aesynth_pipeline.assets.keys import (
    EVALUATION_REPORT,
    HTML_REPORT_METADATA,
    RELEASE_GATE_CHECK,
    VERDICT_METADATA,
)

if TYPE_CHECKING:
    from dagster._utils.error import SerializableErrorInfo

# The release gate's check runs in the evaluation report's own step.
REPORT_STEP = EVALUATION_REPORT.to_python_identifier()
# What Dagster fails a step with when a blocking check of its asset fails.
FAILED_CHECK_ERROR = "DagsterAssetCheckFailedError"

FOLLOWED_EVENTS = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    dg.DagsterEventType.RUN_FAILURE,
}
ASSET_COLUMN_WIDTH = 34


class ExitStatus(enum.IntEnum):
    SUCCEEDED = 0
    FAILED = 1
    BAD_INPUT = 2
    RELEASE_BLOCKED = 3


@dataclass(frozen=True)
class Materialised:
    asset_key: dg.AssetKey
    seconds: float
    metadata: Mapping[str, dg.MetadataValue]

    def progress_line(self) -> str:
        return f"  ✓ {self.asset_key.to_user_string():<{ASSET_COLUMN_WIDTH}}{self.seconds:6.1f} s"


@dataclass(frozen=True)
class FailedStep:
    step_key: str
    error: str
    error_class: str | None = None


@dataclass(frozen=True)
class FailedCheck:
    step_key: str
    check_name: str
    description: str
    # Failed with ERROR severity while blocking: it failed its asset's step.
    blocking: bool = False


@dataclass
class RunProgress:
    """Everything the summary needs from one run, gathered a poll at a time.

    The cursor makes each read return only the records written since the last one, so a
    long run costs one small query per poll.
    """

    run_id: str
    cursor: str | None = None
    step_starts: dict[str, float] = field(default_factory=dict)
    materialised: list[Materialised] = field(default_factory=list)
    failed_steps: list[FailedStep] = field(default_factory=list)
    failed_checks: list[FailedCheck] = field(default_factory=list)
    # Why Dagster failed the run, which says what happened when no step failed (an interrupt).
    run_failure: str | None = None

    def read_new_events(self, instance: dg.DagsterInstance) -> list[Materialised]:
        """Take in the run's new records; returns the assets materialised since last time."""
        connection = instance.get_records_for_run(
            self.run_id, cursor=self.cursor, of_type=FOLLOWED_EVENTS
        )
        self.cursor = connection.cursor
        new = [self._take(record.event_log_entry) for record in connection.records]
        return [materialised for materialised in new if materialised is not None]

    def _take(self, entry: dg.EventLogEntry) -> Materialised | None:
        event = entry.dagster_event
        if event is None:
            return None
        step_key = event.step_key or ""
        if event.event_type == dg.DagsterEventType.STEP_START:
            self.step_starts[step_key] = entry.timestamp
        elif event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialisation = event.step_materialization_data.materialization
            started = self.step_starts.get(step_key, entry.timestamp)
            materialised = Materialised(
                materialisation.asset_key, entry.timestamp - started, materialisation.metadata
            )
            self.materialised.append(materialised)
            return materialised
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
            error = user_error(event.step_failure_data.error)
            self.failed_steps.append(
                FailedStep(step_key, first_line(error), error.cls_name if error else None)
            )
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.asset_check_evaluation_data
            if not evaluation.passed:
                blocking = (
                    evaluation.blocking and evaluation.severity == dg.AssetCheckSeverity.ERROR
                )
                self.failed_checks.append(
                    FailedCheck(
                        step_key, evaluation.check_name, evaluation.description or "", blocking
                    )
                )
        elif event.event_type == dg.DagsterEventType.RUN_FAILURE:
            self.run_failure = next(iter((event.message or "").strip().splitlines()), None)
        return None

    def metadata_of(self, asset_key: dg.AssetKey) -> Mapping[str, dg.MetadataValue] | None:
        found = [m.metadata for m in self.materialised if m.asset_key == asset_key]
        return found[-1] if found else None

    @property
    def release_blocked(self) -> bool:
        """Only the release gate failed: the one failed step is the report's, failed by its
        blocking checks, of which the gate alone failed (a report that crashed, or whose own
        schema check failed, is a failure, not a verdict)."""
        blocking = {check.check_name for check in self.failed_checks if check.blocking}
        return (
            len(self.failed_steps) == 1
            and self.failed_steps[0].step_key == REPORT_STEP
            and self.failed_steps[0].error_class == FAILED_CHECK_ERROR
            and blocking == {RELEASE_GATE_CHECK}
        )


def event_log_lines(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """Every event the instance stored for the run, one line each (errors in full).

    Dagster's console output shows the events of parallel step processes only in part, so
    the log file ends with the run's whole event log as the instance holds it.
    """
    lines = []
    for record in instance.get_records_for_run(run_id).records:
        entry = record.event_log_entry
        when = dt.datetime.fromtimestamp(entry.timestamp, dt.UTC).isoformat(timespec="milliseconds")
        kind = entry.dagster_event.event_type_value if entry.dagster_event else "LOG"
        lines.append(f"{when} {entry.step_key or '-'} {kind} {entry.message or ''}".rstrip())
        event = entry.dagster_event
        if event is not None and event.event_type == dg.DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error
            if error is not None:
                lines.append(error.to_string().rstrip())
    return lines


def user_error(error: SerializableErrorInfo | None) -> SerializableErrorInfo | None:
    """The error the step's code raised, not Dagster's wrapper around it."""
    while (
        error is not None
        and error.cause is not None
        and error.cls_name == dg.DagsterExecutionStepExecutionError.__name__
    ):
        error = error.cause
    return error


def first_line(error: SerializableErrorInfo | None) -> str:
    """The error's first line, its class named without the module path that prefixes it."""
    if error is None:
        return "failed without an error message"
    lines = [line.strip() for line in error.message.splitlines() if line.strip()]
    if not lines:
        return error.cls_name or "failed without an error message"
    qualified, separator, message = lines[0].partition(": ")
    if separator and error.cls_name and qualified.split(".")[-1] == error.cls_name:
        return f"{error.cls_name}: {message}"
    return lines[0]


def exit_status(run: dg.RunRecord | None, progress: RunProgress | None) -> ExitStatus:
    if run is None or progress is None:
        return ExitStatus.FAILED
    if run.dagster_run.status == dg.DagsterRunStatus.SUCCESS:
        return ExitStatus.SUCCEEDED
    if run.dagster_run.status == dg.DagsterRunStatus.FAILURE and progress.release_blocked:
        return ExitStatus.RELEASE_BLOCKED
    return ExitStatus.FAILED


@dataclass(frozen=True)
class Launch:
    """What the summary knows besides the run: where things are, and why the job could not
    be executed, if it could not."""

    log_path: Path
    data_lake: str
    error: str | None
    seconds: float


def summary_lines(
    run: dg.RunRecord | None, progress: RunProgress | None, launch: Launch
) -> list[str]:
    status = exit_status(run, progress)
    if run is None or progress is None:
        lines = ["The run did not start:", f"  {launch.error or '(no error was raised)'}"]
    else:
        lines = [
            headline(status, run, launch),
            *failure_lines(status, progress),
            *report_lines(progress.metadata_of(EVALUATION_REPORT)),
        ]
    if status == ExitStatus.FAILED:
        lines.append("The full details, tracebacks included, are in the log.")
    return [*lines, f"Data lake:  {launch.data_lake}", f"Log:        {launch.log_path}"]


def failure_lines(status: ExitStatus, progress: RunProgress) -> list[str]:
    if status == ExitStatus.RELEASE_BLOCKED:
        return failed_rule_lines(progress.failed_checks)
    if status == ExitStatus.FAILED and progress.failed_steps:
        return [
            line for step in progress.failed_steps for line in failed_step_lines(step, progress)
        ]
    if status == ExitStatus.FAILED and progress.run_failure:
        return [f"  ✗ {progress.run_failure}"]
    return []


def failed_step_lines(step: FailedStep, progress: RunProgress) -> list[str]:
    """The step's error; for a step its blocking checks failed, each such check instead, with
    what it found."""
    checks = [
        check
        for check in progress.failed_checks
        if check.step_key == step.step_key and check.blocking
    ]
    if step.error_class != FAILED_CHECK_ERROR or not checks:
        return [f"  ✗ {step.step_key}: {step.error}"]
    return [
        f"  ✗ {step.step_key}: check {check.check_name} failed"
        + (f": {check.description.splitlines()[0]}" if check.description.strip() else "")
        for check in checks
    ]


def report_lines(report_metadata: Mapping[str, dg.MetadataValue] | None) -> list[str]:
    """The verdict and where the report is, when this run materialised the report."""
    if report_metadata is None:
        return []
    lines = release_verdict_lines(report_metadata)
    if HTML_REPORT_METADATA in report_metadata:
        lines.append(f"Report:     {report_metadata[HTML_REPORT_METADATA].value}")
    return lines


def headline(status: ExitStatus, run: dg.RunRecord, launch: Launch) -> str:
    started, ended = run.start_time, run.end_time
    seconds = ended - started if started is not None and ended is not None else launch.seconds
    identity = f"(run {run.dagster_run.run_id})"
    if status == ExitStatus.SUCCEEDED:
        return f"Run succeeded in {seconds:.1f} s {identity}."
    if status == ExitStatus.RELEASE_BLOCKED:
        return f"Release blocked: the run failed its release gate after {seconds:.1f} s {identity}."
    if run.dagster_run.status == dg.DagsterRunStatus.FAILURE:
        return f"Run failed after {seconds:.1f} s {identity}:"
    if run.dagster_run.status == dg.DagsterRunStatus.CANCELED:
        return f"Run canceled after {seconds:.1f} s {identity}."
    return f"Run did not finish {identity}: {launch.error or 'it ended without a status'}."


def failed_rule_lines(checks: list[FailedCheck]) -> list[str]:
    """The release gate's reasons, one per line: why no mode may be released, then each rule
    a mode that could have been released broke."""
    lines = []
    for check in checks:
        if check.check_name != RELEASE_GATE_CHECK:
            continue
        reasons = [line.strip() for line in check.description.splitlines() if line.strip()]
        lines += [f"  ✗ {reason}" for reason in reasons]
    return lines


def release_verdict_lines(report_metadata: Mapping[str, dg.MetadataValue]) -> list[str]:
    """The report's verdict per mode and its recommendation, when the report carries them.

    A mode that broke a rule is listed with each rule it broke. Read leniently: a verdict
    shaped in a way this code does not expect must not turn a finished run's summary into a
    crash.
    """
    verdict = report_metadata.get(VERDICT_METADATA)
    if verdict is None or not isinstance(verdict.value, Mapping):
        return []
    modes = [mode for mode in verdict.value.get("modes") or [] if isinstance(mode, Mapping)]
    width = max((len(str(mode.get("mode", ""))) for mode in modes), default=0)
    lines = ["Release verdict per mode:"]
    for mode in modes:
        lines += mode_lines(mode, width)
    recommendation = verdict.value.get("recommendation") or "none"
    reason = verdict.value.get("reason")
    lines.append(f"Recommended mode: {recommendation}" + (f" — {reason}" if reason else ""))
    return lines


def mode_lines(mode: Mapping[str, object], width: int) -> list[str]:
    name = f"{mode.get('mode', '?')!s:<{width}}"
    head = f"  ✓ {name}  releasable" if mode.get("passed") else f"  ✗ {name}  not releasable"
    parts = [f"      {part}: {mode[part]}" for part in ("keeps", "loses") if mode.get(part)]
    if not mode.get("passed"):
        parts += [f"      breaks {rule}" for rule in mode.get("failed") or []]
    return [head, *parts]
