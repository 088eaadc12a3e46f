"""The whole pipeline as `make run` runs it, at 10k, 100k and 1M rows, against its speed
targets, beside DataSynthesizer and, when asked, beside the seed tutorial's own scripts.

Each configuration below runs `python -m aesynth_pipeline.launch everything` (what `make run`
runs, start-up included) into a fresh data lake and Dagster instance, with every parameter at
its default except the rows and the modes. For each it reports the whole run's wall seconds,
seconds per 100k rows, the peak memory of the whole process tree (every step's process
counted, sampled from /proc), how the run ended, and each step's wall seconds from the
instance's event log. A fresh instance has no compiled JAX programs, so AIM's fit is a cold
one. On the training data of each three-mode run it then times the correlated mode's
describe + generate with DataSynthesizer (the reference) and with the pipeline's engine,
each in its own process.

With --seed-tutorial it also runs the seed tutorial's scripts (generate, deidentify,
synthesise at 10,000 rows; a run.sh that prints their seconds on its last line), three times
just before the 10k runs, on the pipeline's own default postcode directory (seed 42, 50,000
postcodes) written in doogal.co.uk's layout. The pipeline generates that same directory from
its seed, as `make run` does by default, rather than reading the file.

The configurations whose targets are close (10k rows without aim, 1M rows) run three times
too, and each is reported by its run of median wall seconds: on shared cores one run's time
varies by about 15%.

--quick runs only the 10k and 100k configurations (a few minutes) and writes nothing; the
full run writes its sections of benchmarks/RESULTS.md with --output and leaves the others.

    python benchmarks/pipeline_benchmark.py [--quick] [--seed-tutorial run.sh]
        [--output benchmarks/RESULTS.md] [--reference-timeout 1800]

Exits 1 when a run failed before doing all its work; a run the release gate blocked
(status 3) did every step, and counts as measured.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq
from results_file import command_line, machine, write_section

from aesynth_pipeline.assets.keys import description_key, synthetic_key
from aesynth_pipeline.definitions import IN_PROCESS_MAX_ROWS
from aesynth_pipeline.domain.document import markdown_table
from aesynth_pipeline.domain.geography import DEFAULT_POSTCODE_COUNT
from aesynth_pipeline.domain.modes import MODES, Mode
from aesynth_pipeline.run_outcome import ExitStatus
from aesynth_pipeline.settings import PREFIX, Settings

# The tests' writer of doogal-layout files, so that the seed reads the layout the pipeline's
# reader is tested against.
from aesynth_pipeline_tests.doogal import doogal_frame, write_doogal_csv

REPOSITORY = Path(__file__).resolve().parents[1]
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
WITHOUT_AIM: tuple[Mode, ...] = tuple(mode for mode in MODES if mode != "aim")
# Long enough for a ratio far beyond the target even as a lower bound; --reference-timeout
# waits longer.
REFERENCE_TIMEOUT_SECONDS = 1800
SEED_TUTORIAL_ROWS = 10_000
SEED_TUTORIAL_REPEATS = 3
PIPELINE_HEADING = "## The whole pipeline (`make run`)"
ENGINES_HEADING = "## Correlated mode alone: describe + generate on the same training data"


@dataclass(frozen=True)
class Configuration:
    rows: int
    modes: tuple[Mode, ...]
    quick: bool
    # Whether to time the correlated engines on this run's training data.
    engines: bool
    # AESYNTH_EXECUTOR; the targets are judged on the default's runs.
    executor: str = "auto"
    # Runs of the same configuration, each in a fresh lake and instance: the one of median
    # wall seconds is reported.
    repeats: int = 1

    @property
    def with_aim(self) -> bool:
        return "aim" in self.modes

    @property
    def label(self) -> str:
        label = f"{self.rows:,} rows, {'with aim' if self.with_aim else 'without aim'}"
        return label if self.executor == "auto" else f"{label}, {self.executor}"


CONFIGURATIONS = (
    # Three runs, as the seed tutorial's scripts: the target is their ratio, and a run of
    # 10-30 s varies by more than that ratio's margin from one run to the next.
    Configuration(10_000, WITHOUT_AIM, quick=True, engines=True, repeats=3),
    Configuration(10_000, MODES, quick=True, engines=False),
    Configuration(100_000, WITHOUT_AIM, quick=True, engines=True),
    # Three runs each: on this machine's shared cores one run's wall seconds vary by about
    # 15%, more than the distance to the target.
    Configuration(1_000_000, WITHOUT_AIM, quick=False, engines=True, repeats=3),
    Configuration(1_000_000, MODES, quick=False, engines=False, repeats=3),
    # The executor `auto` does not choose at this size, for its threshold's evidence.
    Configuration(1_000_000, WITHOUT_AIM, quick=False, engines=False, executor="multiprocess"),
    Configuration(1_000_000, MODES, quick=False, engines=False, executor="multiprocess"),
)

# The speed targets.
MAX_SHARE_OF_SEED = 0.5
MAX_1M_SECONDS = 40.0
MAX_1M_PEAK_GIB = 2.5
MAX_QUICK_MINUTES = 5.0
# Linear within this: room for run-to-run noise, while a quadratic cost would grow 10× from
# one span to the next.
MAX_MARGINAL_GROWTH = 1.25


class TreeMemorySampler:
    """Samples the summed resident memory of a process and all its descendants."""

    def __init__(self, root_pid: int, interval: float = 0.1) -> None:
        self.root_pid = root_pid
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, tree_rss_bytes(self.root_pid))
            self._stop.wait(self.interval)


def tree_rss_bytes(root_pid: int) -> int:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces; fields after its ")" are fixed.
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        tree.update(children)
        frontier.extend(children)
    total = 0
    for pid in tree:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
        except (OSError, IndexError):
            continue
    return total


@dataclass
class Measured:
    seconds: float
    peak_bytes: int
    returncode: int
    output: str
    # Wall-clock times (epoch seconds), to set beside the event log's timestamps.
    started_at: float
    ended_at: float


def run_measured(
    command: list[str], environment: dict[str, str], timeout: float | None = None
) -> Measured:
    started_at, started = time.time(), time.perf_counter()
    process = subprocess.Popen(
        command,
        env=environment,
        cwd=REPOSITORY,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    with TreeMemorySampler(process.pid) as sampler:
        try:
            output, _ = process.communicate(timeout=timeout)
            returncode = process.returncode
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            returncode = -9
    seconds = time.perf_counter() - started
    return Measured(seconds, sampler.peak_bytes, returncode, output, started_at, time.time())


def clean_environment(**settings: str) -> dict[str, str]:
    """This process's environment without its AESYNTH_* parameters (every one at its
    default) or a JAX cache of its own (AIM compiles into the fresh instance's), plus
    `settings`."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(PREFIX) and name != "JAX_COMPILATION_CACHE_DIR"
    }
    return {**inherited, **settings}


@dataclass
class StepLog:
    """Each step's wall seconds, from its start and end events, the steps that failed, and
    when the first step started and the last one ended (epoch seconds)."""

    seconds: dict[str, float] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    first_start: float | None = None
    last_end: float | None = None

    @property
    def span(self) -> float | None:
        if self.first_start is None or self.last_end is None:
            return None
        return self.last_end - self.first_start


def step_log(home: Path) -> StepLog:
    """The steps of the latest run in the Dagster instance at `home`."""
    log = StepLog()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(limit=1)
        if not runs:
            return log
        events = instance.all_logs(
            runs[0].run_id,
            of_type={
                dg.DagsterEventType.STEP_START,
                dg.DagsterEventType.STEP_SUCCESS,
                dg.DagsterEventType.STEP_FAILURE,
            },
        )
    started = {}
    for event in events:
        if event.dagster_event.event_type == dg.DagsterEventType.STEP_START:
            started[event.step_key] = event.timestamp
            log.first_start = min(log.first_start or event.timestamp, event.timestamp)
            continue
        log.seconds[event.step_key] = event.timestamp - started[event.step_key]
        log.last_end = max(log.last_end or event.timestamp, event.timestamp)
        if event.dagster_event.event_type == dg.DagsterEventType.STEP_FAILURE:
            log.failed.append(event.step_key)
    return log


@dataclass
class PipelineRun:
    configuration: Configuration
    measured: Measured
    steps: StepLog
    training_path: Path | None
    # Every repeat's wall seconds, this run's (the median) among them.
    repeat_seconds: tuple[float, ...] = ()

    @property
    def did_all_work(self) -> bool:
        """Succeeded, or blocked by the release gate after every step ran."""
        return self.measured.returncode in (ExitStatus.SUCCEEDED, ExitStatus.RELEASE_BLOCKED)

    @property
    def start_up(self) -> float | None:
        """From the command's start to its first step's."""
        if self.steps.first_start is None:
            return None
        return self.steps.first_start - self.measured.started_at

    @property
    def wind_down(self) -> float | None:
        """From the last step's end to the command's exit."""
        if self.steps.last_end is None:
            return None
        return self.measured.ended_at - self.steps.last_end

    def mode_steps(self, mode: Mode) -> dict[str, float]:
        """The seconds of the steps of the mode's assets and their checks, however Dagster
        groups checks into steps."""
        prefixes = tuple(
            key.to_python_identifier() for key in (description_key(mode), synthetic_key(mode))
        )
        return {step: s for step, s in self.steps.seconds.items() if step.startswith(prefixes)}

    def fit_seconds(self, mode: Mode) -> float | None:
        """A mode's fit is its description step."""
        return self.steps.seconds.get(description_key(mode).to_python_identifier())


def run_repeated(configuration: Configuration, workspace: Path) -> PipelineRun:
    """The configuration's run of median wall seconds over its repeats, with every repeat's
    seconds; a repeat that did not do all its work is reported instead."""
    runs = [
        run_pipeline(configuration, workspace / f"repeat-{number}")
        for number in range(configuration.repeats)
    ]
    failed = [run for run in runs if not run.did_all_work]
    chosen = (
        failed[0] if failed else sorted(runs, key=lambda run: run.measured.seconds)[len(runs) // 2]
    )
    return dataclasses.replace(chosen, repeat_seconds=tuple(run.measured.seconds for run in runs))


def wall_seconds(run: PipelineRun) -> str:
    """A run's wall seconds, and its repeats' when there were several."""
    return repeated(run.measured.seconds, run.repeat_seconds)


def repeated(seconds: float, repeats: tuple[float, ...]) -> str:
    text = f"{seconds:.1f}"
    if len(repeats) > 1:
        each = ", ".join(f"{repeat:.1f}" for repeat in repeats)
        text += f" (median of {len(repeats)} runs: {each})"
    return text


def run_pipeline(configuration: Configuration, workspace: Path) -> PipelineRun:
    home, lake = workspace / "dagster_home", workspace / "lake"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text((REPOSITORY / "deploy/local-instance.yaml").read_text())
    environment = clean_environment(
        AESYNTH_ROWS=str(configuration.rows),
        AESYNTH_MODES=",".join(configuration.modes),
        AESYNTH_EXECUTOR=configuration.executor,
        AESYNTH_DATA_LAKE=str(lake),
        DAGSTER_HOME=str(home),
        VIRTUAL_ENV=sys.prefix,
    )
    command = [sys.executable, "-m", "aesynth_pipeline.launch", "everything"]
    measured = run_measured(command, environment)
    training = lake / "deidentified_train.parquet"
    return PipelineRun(
        configuration, measured, step_log(home), training if training.exists() else None
    )


@dataclass
class SeedRun:
    measured: Measured
    # The scripts' own seconds, as run.sh prints them (without its copying of the files).
    seconds: float | None
    # Every repeat's seconds, this run's (the median) among them.
    repeat_seconds: tuple[float, ...] = ()


def repeated_seed_tutorial(script: Path, workspace: Path) -> SeedRun:
    """The seed tutorial's run of median seconds over `SEED_TUTORIAL_REPEATS`, with every
    repeat's seconds; a run that failed is reported instead."""
    runs = []
    for number in range(SEED_TUTORIAL_REPEATS):
        folder = workspace / f"seed-tutorial-{number}"
        folder.mkdir(parents=True)
        runs.append(run_seed_tutorial(script, folder))
    failed = [run for run in runs if run.seconds is None]
    if failed:
        return failed[0]
    chosen = sorted(runs, key=lambda run: run.seconds)[len(runs) // 2]
    return dataclasses.replace(chosen, repeat_seconds=tuple(run.seconds for run in runs))


def run_seed_tutorial(script: Path, workspace: Path) -> SeedRun:
    # The directory a run at the default settings generates (the runs' environment has none).
    defaults = {name: Settings.model_fields[name].default for name in ("seed", "postcode_count")}
    postcodes = write_doogal_csv(
        workspace / "london-postcodes.csv",
        doogal_frame(defaults["postcode_count"], defaults["seed"]),
    )
    measured = run_measured(
        ["bash", str(script), str(postcodes), sys.executable], clean_environment()
    )
    if measured.returncode != 0:
        return SeedRun(measured, None)
    return SeedRun(measured, float(measured.output.strip().splitlines()[-1]))


# Describe + generate in correlated mode on a stored training set, in a fresh process so
# that its memory is its own; prints the two timings as JSON. The parameters are the
# pipeline's defaults, and the domain the run's own: its hospital pseudonyms use the key in
# the run's lake.
ENGINE_RUN = """
import json, sys, time
from pathlib import Path
import pandas as pd
from aesynth_pipeline.assets.synthesis import declared_domain
from aesynth_pipeline.domain import synthesise
from aesynth_pipeline.settings import Settings
training = pd.read_parquet(sys.argv[1])
settings = Settings(data_lake=str(Path(sys.argv[1]).parent))
parameters = synthesise.SynthesisParameters(
    mode="correlated", epsilon=settings.epsilon, degree=settings.bn_degree,
    seed=synthesise.mode_seed(settings.seed, "correlated"), engine=sys.argv[2],
    domain=declared_domain(settings, "correlated"),
)
started = time.perf_counter()
description = synthesise.describe(training, parameters)
described = time.perf_counter()
synthesise.generate(description, len(training), parameters)
generated = time.perf_counter()
print(json.dumps({"describe": described - started, "generate": generated - described}))
"""


@dataclass
class EngineRun:
    engine: str
    rows: int
    measured: Measured
    describe_seconds: float | None = None
    generate_seconds: float | None = None

    @property
    def total(self) -> float | None:
        if self.describe_seconds is None or self.generate_seconds is None:
            return None
        return self.describe_seconds + self.generate_seconds


def run_engine(engine: str, training: Path, timeout: float | None) -> EngineRun:
    measured = run_measured(
        [sys.executable, "-c", ENGINE_RUN, str(training), engine], clean_environment(), timeout
    )
    rows = pq.ParquetFile(training).metadata.num_rows
    run = EngineRun(engine=engine, rows=rows, measured=measured)
    if measured.returncode == 0:
        timings = json.loads(measured.output.strip().splitlines()[-1])
        run.describe_seconds, run.generate_seconds = timings["describe"], timings["generate"]
    return run


@dataclass
class EnginePair:
    """The correlated mode's two engines on one pipeline run's training data."""

    pipeline_rows: int
    fast: EngineRun
    reference: EngineRun

    @property
    def reference_seconds(self) -> tuple[float, bool]:
        """DataSynthesizer's describe + generate, and whether that is only a lower bound
        (it was stopped)."""
        if self.reference.total is not None:
            return self.reference.total, False
        return self.reference.measured.seconds, True


@dataclass
class Results:
    quick: bool
    runs: list[PipelineRun]
    engines: list[EnginePair]
    seed: SeedRun | None
    minutes: float

    def run(self, rows: int, with_aim: bool) -> PipelineRun | None:
        wanted = (rows, with_aim, "auto")
        found = (
            run
            for run in self.runs
            if (run.configuration.rows, run.configuration.with_aim, run.configuration.executor)
            == wanted
        )
        return next(found, None)

    def engines_at(self, rows: int) -> EnginePair | None:
        return next((pair for pair in self.engines if pair.pipeline_rows == rows), None)


def gib(size: int) -> str:
    return f"{size / 2**30:.2f}"


def per_100k(seconds: float, rows: int) -> float:
    return seconds / rows * 100_000


def outcome(run: PipelineRun) -> str:
    status = run.measured.returncode
    if status == ExitStatus.SUCCEEDED:
        return "succeeded"
    if status == ExitStatus.RELEASE_BLOCKED:
        return "release blocked (every step ran)"
    failed = ", ".join(f"`{step}`" for step in run.steps.failed)
    return f"failed, status {status}" + (f": {failed}" if failed else "")


def seconds_cell(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}"


def runs_table(results: Results) -> str:
    """One column per run (and the seed tutorial's, when it ran)."""
    columns: dict[str, list[str]] = {}
    for run in results.runs:
        rows, seconds = run.configuration.rows, run.measured.seconds
        pair = results.engines_at(rows)
        if pair is None:
            versus_reference = "-"
        else:
            reference, stopped = pair.reference_seconds
            versus_reference = f"{'< ' if stopped else ''}{seconds / reference:.1f}×"
        versus_seed = "-"
        if results.seed is not None and results.seed.seconds and rows == SEED_TUTORIAL_ROWS:
            versus_seed = f"{seconds / results.seed.seconds:.2f}×"
        steps = run.steps
        columns[run.configuration.label] = [
            f"**{wall_seconds(run)}**",
            f"{per_100k(seconds, rows):,.1f}",
            gib(run.measured.peak_bytes),
            seconds_cell(run.start_up),
            seconds_cell(steps.span),
            seconds_cell(run.wind_down),
            f"{sum(steps.seconds.values()):.1f}",
            versus_seed,
            versus_reference,
            outcome(run),
        ]
    if results.seed is not None:
        seed, seconds = results.seed, results.seed.seconds
        columns[f"seed tutorial, {SEED_TUTORIAL_ROWS:,} rows"] = [
            f"**{repeated(seconds, seed.repeat_seconds)}**" if seconds else "-",
            f"{per_100k(seconds, SEED_TUTORIAL_ROWS):,.1f}" if seconds else "-",
            gib(seed.measured.peak_bytes),
            *["-"] * 6,
            "succeeded" if seconds else f"failed, status {seed.measured.returncode}",
        ]
    rows = [
        "**wall s**",
        "s per 100k rows",
        "peak memory, GiB (all processes)",
        "start-up: command to first step, s",
        "first step's start to last step's end, s",
        "last step's end to the command's exit, s",
        "sum of the steps' seconds",
        "÷ the seed tutorial's scripts",
        "÷ DataSynthesizer's correlated describe + generate",
        "outcome",
    ]
    return markdown_table(pd.DataFrame({"": rows, **columns}))


def steps_table(runs: list[PipelineRun]) -> str:
    steps = sorted({step for run in runs for step in run.steps.seconds})
    columns = {
        run.configuration.label: [seconds_cell(run.steps.seconds.get(step)) for step in steps]
        for run in runs
    }
    return markdown_table(pd.DataFrame({"step": steps, **columns}))


def engines_table(pairs: list[EnginePair]) -> str:
    rows = []
    for pair in pairs:
        for run in (pair.reference, pair.fast):
            reference, stopped = pair.reference_seconds
            speedup = ""
            if run is pair.fast and run.total:
                speedup = f"{'> ' if stopped else ''}{reference / run.total:.0f}×"
            rows.append({
                "pipeline rows": f"{pair.pipeline_rows:,}",
                "training rows": f"{run.rows:,}",
                "engine": run.engine,
                "describe s": seconds_cell(run.describe_seconds),
                "generate s": seconds_cell(run.generate_seconds),
                "describe + generate s": seconds_cell(run.total)
                if run.total is not None else f"> {run.measured.seconds:.0f} (stopped)",
                "peak GiB": gib(run.measured.peak_bytes),
                "speed-up": speedup,
            })  # fmt: skip
    return markdown_table(pd.DataFrame(rows))


@dataclass(frozen=True)
class Target:
    name: str
    bar: str
    # The measured figure and whether it meets the bar (None: only reported, or unmeasured).
    measure: Callable[[Results], tuple[str, bool | None]]


def not_run(results: Results) -> str:
    return "not run (--quick)" if results.quick else "no run"


def share_of_seed(results: Results) -> tuple[str, bool | None]:
    run = results.run(10_000, with_aim=False)
    if run is None:
        return not_run(results), None
    if results.seed is None or results.seed.seconds is None:
        return f"{run.measured.seconds:.1f} s; the seed's scripts not run (--seed-tutorial)", None
    seconds, seed = run.measured.seconds, results.seed.seconds
    return (
        f"{wall_seconds(run)} s = {seconds / seed:.2f} × the seed's "
        f"{repeated(seed, results.seed.repeat_seconds)} s (bar {MAX_SHARE_OF_SEED * seed:.1f} s)",
        seconds <= MAX_SHARE_OF_SEED * seed,
    )


def seed_plus_aim(results: Results) -> tuple[str, bool | None]:
    run = results.run(10_000, with_aim=True)
    if run is None:
        return not_run(results), None
    fit = run.fit_seconds("aim")
    fitted = f"AIM's fit {fit:.1f} s" if fit is not None else "AIM's fit not measured"
    if results.seed is None or results.seed.seconds is None or fit is None:
        return f"{run.measured.seconds:.1f} s, {fitted}; the seed's scripts not run", None
    bar = results.seed.seconds + fit
    return (
        f"{run.measured.seconds:.1f} s; the seed's {results.seed.seconds:.1f} s + {fitted} "
        f"= {bar:.1f} s",
        run.measured.seconds <= bar,
    )


def million_wall(results: Results) -> tuple[str, bool | None]:
    run = results.run(1_000_000, with_aim=False)
    if run is None:
        return not_run(results), None
    return f"{wall_seconds(run)} s", run.measured.seconds <= MAX_1M_SECONDS


def million_memory(results: Results) -> tuple[str, bool | None]:
    run = results.run(1_000_000, with_aim=False)
    if run is None:
        return not_run(results), None
    peak = run.measured.peak_bytes / 2**30
    return f"{peak:.2f} GiB", peak <= MAX_1M_PEAK_GIB


def aim_share(results: Results) -> tuple[str, bool | None]:
    with_aim, without = results.run(1_000_000, True), results.run(1_000_000, False)
    if with_aim is None:
        return not_run(results), None
    steps = with_aim.mode_steps("aim")
    parts = ", ".join(f"`{step}` {seconds:.1f} s" for step, seconds in sorted(steps.items()))
    text = f"{with_aim.measured.seconds:.1f} s with aim; its steps: {parts or 'none'}"
    if without is not None:
        extra = with_aim.measured.seconds - without.measured.seconds
        text += f"; {extra:+.1f} s over the run without"
    return text, None


def linear_cost(results: Results) -> tuple[str, bool | None]:
    """Linear (an affine cost: start-up plus a cost per row) when the cost of each further
    100k rows hardly grows from 10k–100k to 100k–1M."""
    sizes = [results.run(rows, with_aim=False) for rows in (10_000, 100_000, 1_000_000)]
    measured = [run for run in sizes if run is not None]
    per_size = ", ".join(
        f"{per_100k(run.measured.seconds, run.configuration.rows):,.1f} at "
        f"{run.configuration.rows:,}"
        for run in measured
    )
    text = f"s per 100k rows: {per_size}"
    if len(measured) < 3:
        return f"{text}; 1M {not_run(results)}", None
    marginal = [
        per_100k(
            later.measured.seconds - earlier.measured.seconds,
            later.configuration.rows - earlier.configuration.rows,
        )
        for earlier, later in itertools.pairwise(measured)
    ]
    text += (
        f"; each further 100k rows: {marginal[0]:.1f} s from 10k to 100k, "
        f"{marginal[1]:.1f} s from 100k to 1M"
    )
    return text, marginal[1] <= MAX_MARGINAL_GROWTH * marginal[0]


def quick_minutes(results: Results) -> tuple[str, bool | None]:
    if not results.quick:
        return "measured by --quick", None
    seed = " with the seed tutorial" if results.seed is not None else ""
    return f"{results.minutes:.1f} minutes{seed}", results.minutes < MAX_QUICK_MINUTES


def reference_ratio(results: Results) -> tuple[str, bool | None]:
    cells = []
    for pair in results.engines:
        reference, stopped = pair.reference_seconds
        fast = pair.fast.total
        speedup = f"{'> ' if stopped else ''}{reference / fast:.0f}×" if fast else "-"
        cells.append(f"{speedup} at {pair.pipeline_rows:,}")
    return "the fast engine " + ", ".join(cells), None


TARGETS = (
    Target(
        "10k rows, modes random, independent, correlated and the report",
        f"≤ {MAX_SHARE_OF_SEED:g} × the seed tutorial's scripts",
        share_of_seed,
    ),
    Target("10k rows, with aim as well", "≤ the seed's scripts + AIM's fit", seed_plus_aim),
    Target("1M rows without aim: wall", f"≤ {MAX_1M_SECONDS:g} s", million_wall),
    Target(
        "1M rows without aim: peak memory (all processes)",
        f"≤ {MAX_1M_PEAK_GIB:g} GiB",
        million_memory,
    ),
    Target("1M rows: AIM's share", "reported", aim_share),
    Target(
        "cost linear in rows, 10k to 1M",
        f"each further 100k rows from 100k to 1M ≤ {MAX_MARGINAL_GROWTH:g} × their cost from "
        "10k to 100k",
        linear_cost,
    ),
    Target(
        "`make bench QUICK=1` (10k and 100k)", f"< {MAX_QUICK_MINUTES:g} minutes", quick_minutes
    ),
    Target(
        "correlated describe + generate against DataSynthesizer's",
        "reported",
        reference_ratio,
    ),
)


def targets_table(results: Results) -> str:
    rows = []
    for target in TARGETS:
        figure, met = target.measure(results)
        rows.append({
            "target": target.name,
            "bar": target.bar,
            "measured": figure,
            "met": {True: "**yes**", False: "**no**", None: "-"}[met],
        })  # fmt: skip
    return markdown_table(pd.DataFrame(rows))


def pipeline_section(results: Results, measured_line: str) -> str:
    postcodes = (
        "The seed tutorial's scripts ran three times just before the 10k runs on the "
        "pipeline's default "
        f"postcode directory (seed 42, {DEFAULT_POSTCODE_COUNT:,} postcodes) written in "
        "doogal.co.uk's layout; the pipeline generates the same directory from its seed, as "
        "`make run` does by default."
        if results.seed is not None
        else "The seed tutorial's scripts were not run (`--seed-tutorial`)."
    )
    return "\n\n".join([
        measured_line,
        "`python -m aesynth_pipeline.launch everything` (what `make run` runs, start-up "
        "included) into a fresh data lake and Dagster instance, every parameter at its default "
        "but the rows, the modes and, where a run's name says so, the executor: without aim is "
        "random, independent and correlated; with aim adds aim, whose fit is cold (a fresh "
        "instance has no compiled JAX programs). The default executor, `auto`, runs the steps "
        f"one after another in the run's process up to {IN_PROCESS_MAX_ROWS:,} rows; "
        "`multiprocess` runs them in parallel processes. Every run materialises every asset "
        "and check and the evaluation report. " + postcodes,
        "### Targets",
        targets_table(results),
        "### Each run",
        "Peak memory sums the resident memory of every process of the run, sampled every "
        "0.1 s. A run the release gate blocked did every step; the block is the pipeline's "
        "finding. A configuration run several times (on these shared cores one run's wall "
        "seconds vary by about 15%) is reported by its run of median wall seconds: that "
        "run's figures fill its column and the step table.",
        runs_table(results),
        "### Each step",
        "Wall seconds of each step (an asset, a check, or both in one step) from the run's "
        "event log; with the multiprocess executor steps run side by side, so the whole run "
        "takes less than their sum.",
        steps_table(results.runs),
    ])  # fmt: skip


def engines_section(results: Results, measured_line: str) -> str:
    return "\n\n".join([
        measured_line,
        "Each engine in its own process on the training data (80% of the de-identified rows) "
        "of the run without aim at that size, at the pipeline's default parameters, "
        "generating as many rows as it was trained on.",
        engines_table(results.engines),
    ])  # fmt: skip


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k rows only")
    parser.add_argument(
        "--seed-tutorial",
        type=Path,
        metavar="RUN_SH",
        help="the seed tutorial's run.sh (POSTCODES.csv PYTHON), to time beside the pipeline",
    )
    parser.add_argument("--output", type=Path, help="write the sections into this Markdown file")
    parser.add_argument(
        "--reference-timeout",
        type=float,
        default=REFERENCE_TIMEOUT_SECONDS,
        help="stop DataSynthesizer after this many seconds and report a lower bound",
    )
    arguments = parser.parse_args()
    if arguments.quick and arguments.output:
        parser.error("--quick only prints: the sections hold the full run's figures")
    if arguments.seed_tutorial and not arguments.seed_tutorial.is_file():
        parser.error(f"--seed-tutorial: no such file {str(arguments.seed_tutorial)!r}")

    started, load_at_start = time.perf_counter(), os.getloadavg()[0]
    configurations = [c for c in CONFIGURATIONS if c.quick or not arguments.quick]
    runs, engines, seed = [], [], None
    with tempfile.TemporaryDirectory(prefix="aesynth-bench-") as folder:
        if arguments.seed_tutorial:
            progress("the seed tutorial's scripts ...")
            seed = repeated_seed_tutorial(arguments.seed_tutorial.resolve(), Path(folder))
            if seed.seconds is None:
                progress(seed.measured.output[-3000:])
        for number, configuration in enumerate(configurations):
            workspace = Path(folder) / str(number)
            progress(f"pipeline at {configuration.label} ...")
            run = run_repeated(configuration, workspace)
            runs.append(run)
            if not run.did_all_work:
                progress(run.measured.output[-3000:])
            if not configuration.engines or run.training_path is None:
                continue
            progress("correlated engines on its training data ...")
            engines.append(
                EnginePair(
                    configuration.rows,
                    run_engine("fast", run.training_path, None),
                    run_engine("datasynthesizer", run.training_path, arguments.reference_timeout),
                )
            )
    minutes = (time.perf_counter() - started) / 60
    results = Results(arguments.quick, runs, engines, seed, minutes)

    command = command_line()
    measured_line = (
        f"`{command}` on {machine()}, {dt.date.today().isoformat()}: {minutes:.1f} minutes; "
        f"1-minute load average {load_at_start:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end."
    )
    sections = {
        PIPELINE_HEADING: pipeline_section(results, measured_line),
        ENGINES_HEADING: engines_section(results, measured_line),
    }
    for heading, body in sections.items():
        print(f"{heading}\n\n{body}\n", flush=True)
        if arguments.output:
            write_section(arguments.output, heading, body)
    return 0 if all(run.did_all_work for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
