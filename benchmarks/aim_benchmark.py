"""AIM (aesynth_pipeline/domain/aim.py) measured against its three targets: how faithful it
is at the defaults, how often it passes the release rules, and how long a fit takes.

Every fit is the pipeline's own aim mode: `synthesise.describe` with
`SynthesisParameters("aim", ...)` over the declared domain of the settings (ε = 1,
δ = 1e-9 unless told otherwise) on the training part of a run's de-identified data, and
`synthesise.generate` for as many records as it trained on. The hospital pseudonyms use a
fixed key so that runs repeat; a key only relabels the hospitals.

fidelity  The default run (10,000 mock attendances, data seed 42) once, then AIM with seeds
          0, 1, ... Each synthetic dataset is judged by the pipeline's own evaluation
          (`evaluate.marginal_evaluation`: the associated pairs by bias-corrected Cramér's
          V, every marginal's total variation distance beside its floor, two independent
          real samples of the same sizes; Time in A&E in the evaluation's ten bins). A seed
          meets the target when the mean 2-way distance is within 0.005 of its floor and
          the worst associated pair's distance is at most 0.10; the target is 19 of 20
          seeds.
release   The nightly schedule's run for each night from 2026-12-01: the request its own
          code makes (the night's mock-data seed, `schedules.nightly_seed(42, night)`, as
          run config of the mock attendances; every other seed at its setting), launched as
          `dg launch --job materialize_everything` with modes random, independent and aim
          into one data lake and Dagster instance kept from night to night, as a deployment
          keeps them. Each night's aim verdict is read from the evaluation report's release
          verdict in the instance's event log; the target is 19 of 20 nights.
speed     Each size's training data, then per seed two fits, each in a fresh process: the
          first with an empty JAX compilation cache (cold), the second with the cache the
          first filled (warm). A fit's seconds include importing JAX and mbi. The target is
          30 s at 10,000 mock rows and 60 s at 1,000,000, cold and warm.

    python benchmarks/aim_benchmark.py [--targets fidelity release speed] [--seeds 20]
        [--nights 20] [--speed-rows 10000 1000000] [--speed-seeds 0 1 2 3 4]
        [--epsilon 1] [--delta 1e-9] [--output benchmarks/RESULTS.md]

With --output the tables replace the file's "## AIM" section (or are appended as one).
The machine's load average is printed beside the figures: on a machine busy with other work
(a 1-minute load well above its cores) fits take longer than they would alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import numpy as np
import pandas as pd

# The script beside this one, found because a script's own folder is on the import path.
from pipeline_benchmark import step_log
from pipeline_data import materialised
from results_file import command_line, machine, section_bounds, with_section

from aesynth_pipeline.assets.keys import (
    DEIDENTIFIED_TRAIN,
    EVALUATION_REPORT,
    VERDICT_METADATA,
)
from aesynth_pipeline.assets.synthesis import declared_domain
from aesynth_pipeline.domain.evaluate import marginal_evaluation
from aesynth_pipeline.domain.gate import FIDELITY_RULES, associated_pairs, release_gate
from aesynth_pipeline.domain.metrics import metric_value
from aesynth_pipeline.domain.modes import promises
from aesynth_pipeline.domain.public_domain import (
    PublicDomain,
    with_time_binned,
    with_time_in_bins,
)
from aesynth_pipeline.domain.synthesise import SynthesisParameters, describe, generate
from aesynth_pipeline.schedules import EVERYTHING_JOB, build_schedules
from aesynth_pipeline.schemas import synthetic_schema, violating_share
from aesynth_pipeline.settings import Settings

REPOSITORY = Path(__file__).resolve().parents[1]
TARGETS = ("fidelity", "release", "speed")
PSEUDONYM_KEY = "benchmark"
DEFAULT_ROWS = 10_000
FIRST_NIGHT = dt.date(2026, 12, 1)
NIGHTLY_TIME = dt.time(2)
AIM_STEP, REPORT_STEP = "description_aim", "evaluation_report"
BINNED = "binned training data"
RELEASE_MODES = ("random", "independent", "aim")
# The targets: 19 passes in 20, the fidelity bars, and the fit's seconds by mock rows.
PASS_SHARE = 19 / 20
MAX_EXCESS_2WAY_MEAN = 0.005
MAX_ASSOCIATED_TVD = 0.10
MAX_FIT_SECONDS = {10_000: 30.0, 1_000_000: 60.0}
AIM_HEADING = "## AIM"
TITLES = {
    "fidelity": "### Fidelity at the defaults",
    "release": "### The release rules over the nightly seeds",
    "speed": "### Fit time, cold and warm",
}
INTRODUCTION = (
    "`make bench-aim` (benchmarks/aim_benchmark.py): AIM at ε = 1, δ = 1e-9 against its "
    "targets. Fidelity at the defaults in at least 19 of 20 AIM seeds: mean 2-way TVD within "
    "0.005 of its floor and the worst associated pair's TVD at most 0.10. The release rules "
    "passed on at least 19 of 20 nights of the nightly schedule at 10,000 rows. A fit within "
    "30 s at 10,000 rows and 60 s at 1,000,000 rows on 2 cores, cold and warm. Each part says "
    "when it was measured and under what load."
)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load() -> float:
    return os.getloadavg()[0]


def passes_needed(count: int) -> int:
    return math.ceil(PASS_SHARE * count - 1e-9)


def pass_count(passed: int, count: int) -> str:
    verdict = "met" if passed >= passes_needed(count) else "missed"
    return f"{passed}/{count} (target ≥ {passes_needed(count)}/{count}: {verdict})"


# --- The pipeline's data --------------------------------------------------------------------


def training_data(
    rows: int, lake: Path, arguments: argparse.Namespace
) -> tuple[pd.DataFrame, Settings]:
    """The training part of a run's de-identified data at `rows` mock attendances, and the
    run's settings."""
    settings = budget_settings(
        arguments, data_lake=str(lake), rows=rows, pseudonym_key=PSEUDONYM_KEY
    )
    return materialised(settings, DEIDENTIFIED_TRAIN)[DEIDENTIFIED_TRAIN], settings


def aim_parameters(
    settings: Settings, seed: int, domain: PublicDomain, cache: str | None
) -> SynthesisParameters:
    return SynthesisParameters(
        "aim",
        settings.epsilon,
        settings.bn_degree,
        seed,
        domain=domain,
        delta=settings.delta,
        max_model_size_mb=settings.aim_max_model_size_mb,
        compilation_cache=cache,
    )


def judged(
    training: pd.DataFrame, synthetic: pd.DataFrame, settings: Settings, mode: str = "aim"
) -> pd.DataFrame:
    """The evaluation's marginal figures of one synthetic dataset, with their floors."""
    violations = {mode: violating_share(synthetic_schema("aim"), synthetic)}
    return marginal_evaluation(
        training, {mode: synthetic}, violations, settings.seed, settings.association_threshold
    )


def binning_cost(training: pd.DataFrame, settings: Settings, domain: PublicDomain) -> str:
    """How far the training data itself moves from itself when its stays go through the
    declared bins and come back as `generate` returns them (a minute drawn uniformly within
    each bin): what every mode loses before any noise, with no sampling in it."""
    rng = np.random.default_rng(np.random.SeedSequence([settings.seed, 1]))
    redrawn = with_time_in_bins(with_time_binned(training, domain), domain, rng)
    metrics = judged(training, redrawn, settings, mode=BINNED)
    mean = metric_value(metrics, BINNED, "tvd_2way_mean")
    worst = metric_value(metrics, BINNED, "tvd_2way_associated_max")
    return (
        "For comparison, the training data itself with its stays binned into the declared "
        f"Time in A&E bins (edges {list(domain.time_edges)}) and redrawn within them, as "
        "every mode's records are: against the unchanged training data (no sampling noise "
        f"at all, so 0 without the bins), mean 2-way TVD {mean['value']:.4f} and "
        f"{worst['columns']} {worst['value']:.4f}. (The evaluation bins stays at the "
        "training data's deciles.)"
    )


def budget_settings(arguments: argparse.Namespace, **values: object) -> Settings:
    return Settings(epsilon=arguments.epsilon, delta=arguments.delta, **values)


# --- Target 1: fidelity at the defaults -----------------------------------------------------


def fidelity_section(arguments: argparse.Namespace) -> list[str]:
    started_load = load()
    with tempfile.TemporaryDirectory() as folder:
        training, settings = training_data(DEFAULT_ROWS, Path(folder) / "lake", arguments)
        domain = declared_domain(settings, "aim")
        table = [
            "| AIM seed | associated pairs | mean 2-way TVD | its floor | TVD − floor "
            "| worst associated pair | its TVD | its floor | both bars | fidelity rules |",
            "|---:|---:|---:|---:|---:|---|---:|---:|---|---|",
        ]
        met = 0
        excesses, worst_distances = [], []
        for seed in range(arguments.seeds):
            # Fits after the first load compiled programs from the cache: the figures do
            # not depend on it, only the time, which this section does not judge.
            parameters = aim_parameters(settings, seed, domain, str(Path(folder) / "jax"))
            synthetic = generate(describe(training, parameters), len(training), parameters)
            metrics = judged(training, synthetic, settings)
            mean = metric_value(metrics, "aim", "tvd_2way_mean")
            worst = metric_value(metrics, "aim", "tvd_2way_associated_max")
            gate = release_gate(
                metrics, settings.gate_thresholds(), promises(), rules=FIDELITY_RULES
            )
            failed = gate.loc[~gate["passed"], "rule"].tolist()
            pair = metrics[
                (metrics["metric"] == "tvd_2way") & (metrics["columns"] == worst["columns"])
            ]
            ok = mean["excess"] <= MAX_EXCESS_2WAY_MEAN and worst["value"] <= MAX_ASSOCIATED_TVD
            met += ok
            excesses.append(mean["excess"])
            worst_distances.append(worst["value"])
            table.append(
                f"| {seed} | {len(associated_pairs(metrics))} | {mean['value']:.4f} "
                f"| {mean['floor']:.4f} | {mean['excess']:+.4f} | {worst['columns']} "
                f"| {worst['value']:.4f} | {pair['floor'].iloc[0]:.4f} | {'yes' if ok else 'no'} "
                f"| {'pass' if not failed else 'fail: ' + ', '.join(failed)} |"
            )
            progress(table[-1])
        binned = binning_cost(training, settings, domain)
    return [
        TITLES["fidelity"],
        "",
        f"{len(training):,} training rows (10,000 mock attendances, data seed {settings.seed}); "
        f"AIM at ε = {settings.epsilon:g}, δ = {settings.delta:g}, seeds 0–{arguments.seeds - 1}. "
        "Bars: TVD − floor ≤ "
        f"{MAX_EXCESS_2WAY_MEAN} and the worst associated pair's TVD ≤ {MAX_ASSOCIATED_TVD}. "
        "The last column is the release gate's fidelity rules (schema, columns, associated "
        "pairs) on the same figures. 1-minute load average "
        f"{started_load:.1f} at the start, {load():.1f} at the end.",
        "",
        *table,
        "",
        f"Seeds meeting both bars: **{pass_count(met, arguments.seeds)}**. TVD − floor: "
        f"median {np.median(excesses):+.4f}, worst {max(excesses):+.4f} (bar "
        f"{MAX_EXCESS_2WAY_MEAN}); worst associated pair's TVD: median "
        f"{np.median(worst_distances):.4f}, worst {max(worst_distances):.4f} (bar "
        f"{MAX_ASSOCIATED_TVD}).",
        "",
        binned,
    ]


# --- Target 2: the release rules over the nightly seeds -------------------------------------


@dataclass
class Night:
    night: dt.date
    data_seed: int
    seconds: float
    run_status: str
    aim_passed: bool | None
    recommended: str
    failed: list[str]
    step_seconds: dict[str, float] = field(default_factory=dict)


def nightly_request(night: dt.date, settings: Settings) -> dg.RunRequest:
    """The run request the nightly schedule makes for `night`."""
    [schedule] = build_schedules(settings)
    scheduled = dt.datetime.combine(
        night, NIGHTLY_TIME, tzinfo=ZoneInfo(schedule.execution_timezone)
    )
    return schedule(dg.build_schedule_context(scheduled_execution_time=scheduled))


def run_night(night: dt.date, arguments: argparse.Namespace, folder: Path) -> Night:
    """One night's run as the schedule starts it: the job of every asset and check, its steps
    in their own processes, with the schedule's run config."""
    home, lake = folder / "dagster_home", folder / "lake"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text((REPOSITORY / "deploy/local-instance.yaml").read_text())
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("AESYNTH_")},
        "AESYNTH_ROWS": str(DEFAULT_ROWS),
        "AESYNTH_MODES": ",".join(RELEASE_MODES),
        "AESYNTH_EPSILON": repr(arguments.epsilon),
        "AESYNTH_DELTA": repr(arguments.delta),
        "AESYNTH_PSEUDONYM_KEY": PSEUDONYM_KEY,
        "AESYNTH_DATA_LAKE": str(lake),
        "DAGSTER_HOME": str(home),
        "VIRTUAL_ENV": sys.prefix,
    }
    request = nightly_request(night, Settings())
    [data_seed] = [op["config"]["seed"] for op in request.run_config["ops"].values()]
    command = [
        str(Path(sys.executable).parent / "dg"), "launch", "--job", EVERYTHING_JOB,
        "--config-json", json.dumps(request.run_config),
    ]  # fmt: skip
    started = time.perf_counter()
    # In a session of its own: signals meant for the run's processes stay with them.
    launched = subprocess.run(
        command,
        env=environment,
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=False,
        start_new_session=True,
    )
    seconds = time.perf_counter() - started
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(limit=1)
        if not runs:
            progress(launched.stdout[-3000:] + launched.stderr[-3000:])
            return Night(night, data_seed, seconds, "not started", None, "-", ["no run"], {})
        [run] = runs
        reports = [
            entry.asset_materialization
            for entry in instance.all_logs(
                run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            )
            if entry.asset_materialization.asset_key == EVALUATION_REPORT
        ]
    status = run.status.value.lower()
    steps = step_log(home).seconds
    if not reports:
        progress(launched.stdout[-3000:] + launched.stderr[-3000:])
        return Night(night, data_seed, seconds, status, None, "-", ["no report"], steps)
    verdict = reports[0].metadata[VERDICT_METADATA].value
    [aim] = [mode for mode in verdict["modes"] if mode["mode"] == "aim"]
    recommended = verdict["recommendation"] or "none"
    return Night(
        night, data_seed, seconds, status, aim["passed"], recommended, aim["failed"], steps
    )


def release_section(arguments: argparse.Namespace) -> list[str]:
    started_load = load()
    table = [
        "| night | mock-data seed | aim passes | recommended | run | wall s | aim fit s "
        "| report s | rules aim failed |",
        "|---|---:|---|---|---|---:|---:|---:|---|",
    ]
    passed = 0
    with tempfile.TemporaryDirectory(prefix="aesynth-bench-aim-") as folder:
        for offset in range(arguments.nights):
            night = run_night(FIRST_NIGHT + dt.timedelta(days=offset), arguments, Path(folder))
            passed += bool(night.aim_passed)
            failed = "; ".join(line.replace("|", "/") for line in night.failed) or "-"
            aim = {True: "yes", False: "no", None: "not judged"}[night.aim_passed]
            table.append(
                f"| {night.night.isoformat()} | {night.data_seed} | {aim} | {night.recommended} "
                f"| {night.run_status} | {night.seconds:.0f} "
                f"| {night.step_seconds.get(AIM_STEP, math.nan):.0f} "
                f"| {night.step_seconds.get(REPORT_STEP, math.nan):.0f} | {failed} |"
            )
            progress(table[-1])
    last = FIRST_NIGHT + dt.timedelta(days=arguments.nights - 1)
    return [
        TITLES["release"],
        "",
        f"The whole pipeline at 10,000 mock attendances, modes {', '.join(RELEASE_MODES)}, "
        f"for the nights {FIRST_NIGHT.isoformat()} to {last.isoformat()}: the schedule's run "
        "config (the night's mock-data seed), every other seed at its setting (42), launched "
        "with `dg launch` into one lake and instance kept from night to night (so from the "
        "second night on, aim mode's JAX programs load from the instance's cache). Seconds "
        "from the run's event log. 1-minute load average "
        f"{started_load:.1f} at the start, {load():.1f} at the end.",
        "",
        *table,
        "",
        f"Nights aim mode passes every rule that applies to it: "
        f"**{pass_count(passed, arguments.nights)}**.",
    ]


# --- Target 3: fit time, cold and warm ------------------------------------------------------


def timed_describe(
    training_path: str, parameters: SynthesisParameters
) -> tuple[float, dict, float]:
    """Runs in a fresh process: the fit's seconds (importing JAX and mbi included), the
    description, and the process's peak resident memory in MiB."""
    training = pd.read_parquet(training_path)
    started = time.perf_counter()
    description = describe(training, parameters)
    seconds = time.perf_counter() - started
    # VmHWM, not ru_maxrss: the latter survives exec, so it would count the parent's memory
    # at the moment it started this process.
    status = Path("/proc/self/status").read_text()
    [peak_kib] = [line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")]
    return seconds, description, int(peak_kib) / 1024


def in_fresh_process(function: Callable, *arguments: object):
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, arguments)


def speed_section(arguments: argparse.Namespace) -> list[str]:
    started_load = load()
    table = [
        "| mock rows | training rows | AIM seed | fit s cold | load | fit s warm | load "
        "| target s | peak MiB | rounds | cliques measured | 2-way TVD − floor "
        "| worst associated TVD |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    within: dict[str, int] = {"cold": 0, "warm": 0}
    fits = 0
    worst_seconds: dict[tuple[int, str], float] = {}
    for rows in arguments.speed_rows:
        with tempfile.TemporaryDirectory() as folder:
            progress(f"training data at {rows:,} mock rows ...")
            training, settings = training_data(rows, Path(folder) / "lake", arguments)
            domain = declared_domain(settings, "aim")
            training_path = str(Path(folder) / "training.parquet")
            training.to_parquet(training_path)
            target = MAX_FIT_SECONDS.get(rows, math.nan)
            for seed in arguments.speed_seeds:
                cache = str(Path(folder) / f"jax-{seed}")
                parameters = aim_parameters(settings, seed, domain, cache)
                cold_load = load()
                cold, description, peak = in_fresh_process(
                    timed_describe, training_path, parameters
                )
                warm_load = load()
                warm, again, _ = in_fresh_process(timed_describe, training_path, parameters)
                if again != description:
                    raise SystemExit("the warm fit's description differs from the cold fit's")
                synthetic = generate(description, len(training), parameters)
                metrics = judged(training, synthetic, settings)
                mean = metric_value(metrics, "aim", "tvd_2way_mean")
                worst = metric_value(metrics, "aim", "tvd_2way_associated_max")
                ledger = description["ledger"]
                measured = len({tuple(entry["clique"]) for entry in ledger})
                fits += 1
                for name, seconds in (("cold", cold), ("warm", warm)):
                    within[name] += seconds <= target
                    key = (rows, name)
                    worst_seconds[key] = max(worst_seconds.get(key, 0.0), seconds)
                table.append(
                    f"| {rows:,} | {len(training):,} | {seed} | {cold:.1f} | {cold_load:.1f} "
                    f"| {warm:.1f} | {warm_load:.1f} | {target:g} | {peak:,.0f} "
                    f"| {max(entry['round'] for entry in ledger)} | {measured} "
                    f"| {mean['excess']:+.4f} | {worst['value']:.4f} |"
                )
                progress(table[-1])
    slowest = ", ".join(
        f"{name} {seconds:.1f} s at {rows:,} rows"
        for (rows, name), seconds in worst_seconds.items()
    )
    return [
        TITLES["speed"],
        "",
        f"AIM at ε = {arguments.epsilon:g}, δ = {arguments.delta:g}; each fit in a fresh "
        "process on all the machine's cores, cold with an empty JAX compilation cache, warm "
        "with the cache the cold fit filled; `load` is the 1-minute load average as the fit "
        f"started ({os.cpu_count()} cores). The last two columns are the evaluation's, as in "
        "the fidelity table. 1-minute load average "
        f"{started_load:.1f} at the start, {load():.1f} at the end.",
        "",
        *table,
        "",
        f"Fits within their target: cold **{pass_count(within['cold'], fits)}**, warm "
        f"**{pass_count(within['warm'], fits)}**; slowest: {slowest}.",
    ]


# --- Output ---------------------------------------------------------------------------------


def subsections(lines: list[str]) -> dict[str, str]:
    """The "### " subsections among `lines`, by heading."""
    found: dict[str, list[str]] = {}
    heading = None
    for line in lines:
        if line.startswith("### "):
            heading = line.strip()
            found[heading] = []
        if heading is not None:
            found[heading].append(line)
    return {heading: "\n".join(body).strip("\n") for heading, body in found.items()}


def with_subsections(document: str, measured: dict[str, str]) -> str:
    """`document` with its AIM section holding the subsections just `measured` in place of
    their earlier versions, and the others kept; the section is appended when missing."""
    lines = document.rstrip("\n").split("\n") if document.strip() else []
    start, end = section_bounds(lines, AIM_HEADING)
    kept = {**subsections(lines[start + 1 : end]), **measured}
    order = [TITLES[target] for target in TARGETS]
    parts = [kept[title] for title in order if title in kept]
    parts += [text for title, text in kept.items() if title not in order]
    return with_section(document, AIM_HEADING, "\n\n".join([INTRODUCTION, *parts]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    parser.add_argument("--seeds", type=int, default=20, help="AIM seeds for fidelity")
    parser.add_argument("--nights", type=int, default=20, help="nights for release")
    parser.add_argument("--speed-rows", type=int, nargs="+", default=list(MAX_FIT_SECONDS))
    parser.add_argument("--speed-seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--delta", type=float, default=1e-9)
    parser.add_argument("--output", type=Path, help="write the tables into this Markdown file")
    arguments = parser.parse_args()

    sections = {"fidelity": fidelity_section, "release": release_section, "speed": speed_section}
    command = command_line()
    for target in arguments.targets:
        progress(f"{target} ...")
        started = time.perf_counter()
        heading, *body = sections[target](arguments)
        minutes = (time.perf_counter() - started) / 60
        text = "\n".join([
            heading,
            "",
            f"`{command}` on {machine()}, {dt.date.today().isoformat()}: {minutes:.0f} minutes.",
            *body,
        ])  # fmt: skip
        print(text + "\n", flush=True)
        # Written as each part ends, so that a later part's failure loses only its own.
        if arguments.output:
            existing = arguments.output.read_text() if arguments.output.exists() else ""
            arguments.output.write_text(with_subsections(existing, {heading: text}))


if __name__ == "__main__":
    main()
