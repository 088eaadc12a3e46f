"""The whole pipeline at 10k, 100k and 1M rows, as `make run` runs it, beside DataSynthesizer.

For each size it launches `dg launch --job materialize_everything` (correlated mode, k=2,
ε=1) into a fresh data lake and Dagster instance, and reports the wall seconds of every
step from the instance's event log, the whole run's wall seconds, the peak memory of the
run's whole process tree (every step process counted, sampled from /proc), and rows per
second. Then, on the same de-identified training data, it times the correlated mode's
describe + generate with each engine, each in its own process: DataSynthesizer's (the
reference) and the pipeline's own. Prints Markdown tables and writes them to
benchmarks/RESULTS.md.

    python benchmarks/pipeline_benchmark.py [--rows 10000 100000 1000000] [--output PATH]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from aesynth_pipeline.run_outcome import RELEASE_GATE_STEP

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_ROWS = (10_000, 100_000, 1_000_000)
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
BENCHMARK_SETTINGS = {"AESYNTH_BN_DEGREE": "2", "AESYNTH_EPSILON": "1", "AESYNTH_ENGINE": "fast"}
# Long enough for a ratio far beyond the target even as a lower bound; --reference-timeout
# waits longer.
REFERENCE_TIMEOUT_SECONDS = 1800


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
    output: str = ""


def run_measured(
    command: list[str], environment: dict[str, str], timeout: float | None = None
) -> Measured:
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        env=environment,
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    with TreeMemorySampler(process.pid) as sampler:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            return Measured(time.perf_counter() - started, sampler.peak_bytes, -9, output)
    return Measured(time.perf_counter() - started, sampler.peak_bytes, process.returncode, output)


@dataclass
class PipelineRun:
    rows: int
    measured: Measured
    step_seconds: dict[str, float] = field(default_factory=dict)
    failed_steps: list[str] = field(default_factory=list)
    training_path: Path | None = None

    @property
    def did_all_work(self) -> bool:
        """Succeeded, or failed only at the release gate, after every other step ran."""
        if self.measured.returncode == 0:
            return True
        return self.failed_steps == [RELEASE_GATE_STEP]


def step_seconds(home: Path) -> tuple[dict[str, float], list[str]]:
    """Each step's wall seconds, from its start and end events in the instance, and the steps
    that failed."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs(limit=1)
        events = instance.all_logs(
            run.run_id,
            of_type={
                dg.DagsterEventType.STEP_START,
                dg.DagsterEventType.STEP_SUCCESS,
                dg.DagsterEventType.STEP_FAILURE,
            },
        )
    started, seconds, failed = {}, {}, []
    for event in events:
        if event.dagster_event.event_type == dg.DagsterEventType.STEP_START:
            started[event.step_key] = event.timestamp
            continue
        seconds[event.step_key] = event.timestamp - started[event.step_key]
        if event.dagster_event.event_type == dg.DagsterEventType.STEP_FAILURE:
            failed.append(event.step_key)
    return seconds, failed


def run_pipeline(rows: int, workspace: Path) -> PipelineRun:
    home, lake = workspace / "dagster_home", workspace / "lake"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text((REPOSITORY / "deploy/local-instance.yaml").read_text())
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("AESYNTH_")},
        **BENCHMARK_SETTINGS,
        "AESYNTH_ROWS": str(rows),
        "AESYNTH_DATA_LAKE": str(lake),
        "DAGSTER_HOME": str(home),
        "VIRTUAL_ENV": sys.prefix,
    }
    dg_command = str(Path(sys.executable).parent / "dg")
    measured = run_measured([dg_command, "launch", "--job", "materialize_everything"], environment)
    seconds, failed = step_seconds(home)
    run = PipelineRun(rows=rows, measured=measured, step_seconds=seconds, failed_steps=failed)
    training = lake / "deidentified_train.parquet"
    run.training_path = training if training.exists() else None
    return run


# Describe + generate in correlated mode on a stored training set, in a fresh process so
# that its memory is its own; prints the two timings as JSON.
# The domain is the run's own: its hospital pseudonyms use the key in the run's lake.
ENGINE_RUN = """
import json, sys, time
from pathlib import Path
import pandas as pd
from aesynth_pipeline.assets.synthesis import declared_domain
from aesynth_pipeline.domain import synthesise
from aesynth_pipeline.settings import Settings
training = pd.read_parquet(sys.argv[1])
domain = declared_domain(Settings(data_lake=str(Path(sys.argv[1]).parent)), "correlated")
parameters = synthesise.SynthesisParameters(
    mode="correlated", epsilon=1.0, degree=2, seed=7, engine=sys.argv[2], domain=domain
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


def run_engine(engine: str, training: Path, rows: int, timeout: float | None) -> EngineRun:
    environment = {**os.environ}
    measured = run_measured([sys.executable, "-c", ENGINE_RUN, str(training), engine],
                            environment, timeout)  # fmt: skip
    run = EngineRun(engine=engine, rows=rows, measured=measured)
    if measured.returncode == 0:
        timings = json.loads(measured.output.strip().splitlines()[-1])
        run.describe_seconds, run.generate_seconds = timings["describe"], timings["generate"]
    return run


def gib(size: int) -> str:
    return f"{size / 2**30:.2f}"


def pipeline_table(runs: list[PipelineRun]) -> str:
    steps = sorted({step for run in runs for step in run.step_seconds})
    header = "| step | " + " | ".join(f"{run.rows:,} rows" for run in runs) + " |"
    lines = [header, "|---|" + "---:|" * len(runs)]
    for step in steps:
        cells = [f"{run.step_seconds[step]:.1f}" if step in run.step_seconds else "-"
                 for run in runs]  # fmt: skip
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    totals = {
        "**whole run, wall s**": [f"**{run.measured.seconds:.1f}**" for run in runs],
        "peak memory, GiB (all processes)": [gib(run.measured.peak_bytes) for run in runs],
        "rows per second": [f"{run.rows / run.measured.seconds:,.0f}" for run in runs],
        "run succeeded": [_outcome(run) for run in runs],
    }
    for name, cells in totals.items():
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _outcome(run: PipelineRun) -> str:
    if run.measured.returncode == 0:
        return "yes"
    if run.failed_steps:
        return "no: " + ", ".join(f"`{step}` failed" for step in run.failed_steps)
    return "no"


def engine_table(pairs: list[tuple[EngineRun, EngineRun]]) -> str:
    lines = [
        "| rows | engine | describe s | generate s | describe + generate s | peak GiB | speed-up |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for fast, reference in pairs:
        for run in (reference, fast):
            if run.total is None:
                cells = ["-", "-", f"> {run.measured.seconds:.0f} (stopped)"]
            else:
                cells = [f"{run.describe_seconds:.1f}", f"{run.generate_seconds:.1f}",
                         f"{run.total:.1f}"]  # fmt: skip
            speedup = ""
            if run is fast and fast.total:
                reference_seconds = reference.total or reference.measured.seconds
                bound = "" if reference.total else "> "
                speedup = f"{bound}{reference_seconds / fast.total:.0f}×"
            lines.append(f"| {run.rows:,} | {run.engine} | " + " | ".join(cells)
                         + f" | {gib(run.measured.peak_bytes)} | {speedup} |")  # fmt: skip
    return "\n".join(lines)


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    system = f"{platform.system()} {platform.machine()}"
    return (
        f"{os.cpu_count()} cores, {memory / 2**30:.0f} GiB memory, "
        f"Python {platform.python_version()}, {system}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=list(DEFAULT_ROWS))
    parser.add_argument("--output", type=Path, default=REPOSITORY / "benchmarks" / "RESULTS.md")
    parser.add_argument(
        "--reference-timeout",
        type=float,
        default=REFERENCE_TIMEOUT_SECONDS,
        help="stop DataSynthesizer after this many seconds and report a lower bound",
    )
    arguments = parser.parse_args()

    pipeline_runs, engine_pairs = [], []
    for rows in arguments.rows:
        with tempfile.TemporaryDirectory(prefix=f"aesynth-bench-{rows}-") as folder:
            print(f"pipeline at {rows:,} rows ...", file=sys.stderr, flush=True)
            run = run_pipeline(rows, Path(folder))
            pipeline_runs.append(run)
            if run.measured.returncode != 0:
                print(run.measured.output[-3000:], file=sys.stderr)
            if run.training_path is None:
                continue
            training_rows = pq.ParquetFile(run.training_path).metadata.num_rows
            print(f"engines at {training_rows:,} training rows ...", file=sys.stderr, flush=True)
            fast = run_engine("fast", run.training_path, training_rows, None)
            reference = run_engine(
                "datasynthesizer", run.training_path, training_rows, arguments.reference_timeout
            )
            engine_pairs.append((fast, reference))

    report = "\n".join([
        "# Benchmarks",
        "",
        f"`make bench` on {machine()}, {dt.date.today().isoformat()}.",
        "Correlated mode with k=2 and ε=1; every other parameter at its default.",
        "",
        "## The whole pipeline (`dg launch --job materialize_everything`)",
        "",
        "Wall seconds per step (asset steps and their check steps), from the run's event log;",
        "steps run in parallel processes, so the whole run takes less than their sum. A failed",
        "release-gate check fails the run but stops no work: it is the last step to run.",
        "",
        pipeline_table(pipeline_runs),
        "",
        "## Correlated mode alone: describe + generate on the same training data",
        "",
        "Each engine in its own process on the run's `deidentified_train` (80% of the",
        "de-identified rows), generating as many rows as it was trained on.",
        "",
        engine_table(engine_pairs),
        "",
    ])  # fmt: skip
    print(report)
    arguments.output.write_text(report)
    # A release gate's verdict is the pipeline's finding, not a failure to measure it.
    return 0 if all(run.did_all_work for run in pipeline_runs) else 1


if __name__ == "__main__":
    sys.exit(main())
