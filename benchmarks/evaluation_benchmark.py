"""The evaluation_report step's wall seconds: the asset's own body (violations, evaluate(),
the release gate, the figures, the report files) on a lake of the pipeline's datasets
(random, independent and correlated modes), with the time spent in evaluate() and in drawing
the figures, and the seconds to read its inputs as the IO manager does.

With `--baseline REF` the same measurement runs for the code at git REF (exported with
`git archive`) too, in turns with this working tree's, each in its own process on the same
lake, so that the two share the machine's load; imports are left out of every figure.

    python benchmarks/evaluation_benchmark.py [--rows 10000,1000000] [--repeats 3]
        [--baseline main] [--output benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADING = "## The evaluation report's step"
MODES = ("random", "independent", "correlated")
HERE = Path(__file__).resolve().parent
PHASES = ("read", "step", "step cpu", "violations", "evaluate", "figures")


def measure(lake: Path) -> dict[str, float]:
    """One run of the evaluation_report asset's body on `lake`, in this process."""
    import dagster as dg
    import pandas as pd

    from aesynth_pipeline.assets import evaluation
    from aesynth_pipeline.domain.disclosure import disclosure_risk
    from aesynth_pipeline.settings import Settings

    seconds: dict[str, float] = {}

    def timed(phase: str, function):
        def run(*arguments, **keywords):
            started = time.perf_counter()
            try:
                return function(*arguments, **keywords)
            finally:
                seconds[phase] = seconds.get(phase, 0.0) + time.perf_counter() - started

        return run

    # The asset calls these by their names in its module: timed where it calls them.
    evaluation.violating_share = timed("violations", evaluation.violating_share)
    evaluation.evaluate = timed("evaluate", evaluation.evaluate)
    evaluation._figures = timed("figures", evaluation._figures)
    started = time.perf_counter()
    inputs: dict[str, object] = {
        "training": pd.read_parquet(lake / "deidentified_train.parquet"),
        "holdout": pd.read_parquet(lake / "deidentified_holdout.parquet"),
    }
    for mode in MODES:
        inputs[f"synthetic_{mode}"] = pd.read_parquet(lake / f"synthetic_{mode}.parquet")
        inputs[f"description_{mode}"] = json.loads((lake / f"description_{mode}.json").read_text())
    seconds["read"] = time.perf_counter() - started
    inputs["disclosure"] = disclosure_risk(
        pd.read_parquet(lake / "hospital_ae_deidentified.parquet")
    )
    with tempfile.TemporaryDirectory() as reports:
        settings = Settings(data_lake=reports, modes=MODES)
        [_, asset] = evaluation.build_evaluation_assets(settings)
        context = dg.build_asset_context()
        started, processor = time.perf_counter(), time.process_time()
        asset(context, **inputs)
        seconds["step"] = time.perf_counter() - started
        # Seconds of every thread of this process: above wall seconds where threads ran.
        seconds["step cpu"] = time.process_time() - processor
    return seconds


def make_lake(rows: int, folder: Path) -> Path:
    """The pipeline's datasets for `rows` mock attendances (this working tree's code)."""
    from pipeline_data import materialised

    from aesynth_pipeline.assets.keys import (
        DEIDENTIFIED,
        DEIDENTIFIED_HOLDOUT,
        DEIDENTIFIED_TRAIN,
        synthetic_key,
    )
    from aesynth_pipeline.settings import Settings

    lake = folder / f"lake_{rows}"
    keys = [DEIDENTIFIED, DEIDENTIFIED_TRAIN, DEIDENTIFIED_HOLDOUT]
    materialised(
        Settings(data_lake=str(lake), rows=rows, modes=MODES),
        *keys,
        *(synthetic_key(mode) for mode in MODES),
    )
    return lake


def export(ref: str, folder: Path) -> Path:
    """The code at git `ref`, as files (not a worktree)."""
    target = folder / "baseline"
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(HERE.parent), "archive", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def child(code: Path, lake: Path) -> dict[str, float]:
    """`measure(lake)` in a fresh process importing the package from `code`."""
    environment = {**os.environ, "PYTHONPATH": f"{code}{os.pathsep}{HERE}"}
    finished = subprocess.run(
        [sys.executable, __file__, "--measure", str(lake)],
        env=environment,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(finished.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="10000,1000000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", help="a git ref to measure beside this working tree")
    parser.add_argument("--output", type=Path, help="write the table into this Markdown file")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.measure:
        print(json.dumps(measure(arguments.measure)))
        return

    import pandas as pd
    from results_file import command_line, machine, write_section

    from aesynth_pipeline.domain.document import markdown_table

    started, load = time.perf_counter(), os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        versions = {"this tree": HERE.parent}
        if arguments.baseline:
            versions = {arguments.baseline: export(arguments.baseline, folder), **versions}
        for size in (int(rows) for rows in arguments.rows.split(",")):
            lake = make_lake(size, folder)
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in versions}
            for _ in range(arguments.repeats):
                for name, code in versions.items():  # in turns, to share the machine's load
                    runs[name].append(child(code, lake))
                    print(name, size, runs[name][-1], file=sys.stderr, flush=True)
            medians = {
                name: {phase: statistics.median(run[phase] for run in got) for phase in PHASES}
                for name, got in runs.items()
            }
            for name, median in medians.items():
                row = {"rows": f"{size:,}", "code": name}
                row |= {f"{phase} s": f"{median[phase]:.2f}" for phase in PHASES}
                if arguments.baseline and name != arguments.baseline:
                    before = medians[arguments.baseline]
                    row["step speed-up"] = f"{before['step'] / median['step']:.2f}×"
                rows.append(row)
    table = markdown_table(pd.DataFrame(rows).fillna(""))
    command = command_line()
    minutes = (time.perf_counter() - started) / 60
    text = "\n\n".join(
        [
            f"`{command}` on {machine()}, {dt.date.today().isoformat()}: {minutes:.0f} minutes.",
            f"Median seconds over {arguments.repeats} runs, each in its own process, imports "
            "left out: wall seconds reading the step's inputs and running the step's body "
            "(schema violations, evaluate(), the release gate, the figures, the report), the "
            "processor seconds of that body, and the wall seconds of its schema violations, "
            "evaluate() and figures. Load average (1 minute) at the start "
            f"{load[0]:.2f}, at the end {os.getloadavg()[0]:.2f}: on a machine shared with "
            "other work the seconds vary from run to run, the old and new code's alike.",
            table,
        ]
    )
    print(text)
    if arguments.output:
        write_section(arguments.output, HEADING, text)


if __name__ == "__main__":
    main()
