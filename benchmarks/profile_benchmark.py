"""The evaluation report's comparison of modes on both mock profiles, over several seeds.

The tutorial's mock has two associated pairs of columns; the realistic one has nine or ten
(domain/realistic_mock.py). For each profile and seed this materialises every asset with
every parameter at its default but the seed and the profile (10,000 rows, every mode), in
this process, into a temporary lake, and reads the report's metrics table and verdict. It
then reports, per profile, how many pairs the training data associates and, per mode, the
mean excess over its floor of the 1-way, 2-way and associated-pair total variation
distances (with their spread over the seeds), how often each mode passed its release rules,
and how often each was recommended.

    python benchmarks/profile_benchmark.py [--seeds 5] [--output benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
from results_file import command_line, machine, write_section

from aesynth_pipeline.assets.keys import EVALUATION_REPORT, VERDICT_METADATA
from aesynth_pipeline.definitions import build_assets, build_resources
from aesynth_pipeline.domain.document import markdown_table
from aesynth_pipeline.domain.fidelity import DEFAULT_ASSOCIATION_THRESHOLD
from aesynth_pipeline.domain.mock_profiles import MOCK_PROFILES, MockProfile
from aesynth_pipeline.domain.modes import MODES
from aesynth_pipeline.settings import Settings

HEADING = "## Both mock profiles: the report's comparison of modes"
DEFAULT_SEEDS = 5
FIGURES = {
    "tvd_1way_mean": "1-way TVD excess",
    "tvd_2way_mean": "2-way TVD excess",
    "tvd_2way_associated_mean": "associated pairs' TVD excess",
}


@dataclass(frozen=True)
class Outcome:
    profile: MockProfile
    seed: int
    metrics: pd.DataFrame
    passed: dict[str, bool]
    recommended: str


def run_once(profile: MockProfile, seed: int, folder: Path) -> Outcome:
    lake = folder / f"{profile}-{seed}"
    settings = Settings(data_lake=str(lake), seed=seed, mock_profile=profile)
    # A blocked release fails the gate's check, after the report is written: still measured.
    result = dg.materialize(
        build_assets(settings), resources=build_resources(settings), raise_on_error=False
    )
    [event] = [
        e for e in result.get_asset_materialization_events() if e.asset_key == EVALUATION_REPORT
    ]
    metadata = {name: value.value for name, value in event.materialization.metadata.items()}
    verdict = metadata[VERDICT_METADATA]
    return Outcome(
        profile=profile,
        seed=seed,
        metrics=pd.read_parquet(Path(settings.data_lake) / "evaluation_report.parquet"),
        passed={entry["mode"]: bool(entry["passed"]) for entry in verdict["modes"]},
        recommended=str(metadata["recommended mode"]),
    )


def profile_table(outcomes: list[Outcome]) -> str:
    """One row per mode: each figure's mean excess (± its standard deviation over the
    seeds), how often it passed its rules and how often it was recommended."""
    recommended = Counter(outcome.recommended for outcome in outcomes)
    rows = []
    for mode in MODES:
        row: dict[str, object] = {"mode": mode}
        for metric, label in FIGURES.items():
            excess = pd.Series(
                [
                    float(
                        o.metrics.loc[
                            (o.metrics["mode"] == mode) & (o.metrics["metric"] == metric), "excess"
                        ].iloc[0]
                    )
                    for o in outcomes
                ]
            )
            row[label] = f"{excess.mean():.3f} ± {excess.std(ddof=1):.3f}"
        row["passed its rules"] = f"{sum(o.passed[mode] for o in outcomes)} of {len(outcomes)}"
        row["recommended"] = f"{recommended[mode]} of {len(outcomes)}"
        rows.append(row)
    return markdown_table(pd.DataFrame(rows))


def associated_pairs(outcomes: list[Outcome]) -> str:
    counts = [
        int(
            (
                (o.metrics["metric"] == "cramers_v")
                & (o.metrics["value"] > DEFAULT_ASSOCIATION_THRESHOLD)
            ).sum()
        )
        for o in outcomes
    ]
    return f"{min(counts)} to {max(counts)}"


def section(outcomes: list[Outcome], measured_line: str) -> str:
    parts = [measured_line]
    for profile in MOCK_PROFILES:
        chosen = [o for o in outcomes if o.profile == profile]
        blocked = sum(o.recommended == "none" for o in chosen)
        parts.append(
            f"**{profile}** profile, {len(chosen)} seeds: {associated_pairs(chosen)} associated "
            f"pairs (bias-corrected Cramér's V above {DEFAULT_ASSOCIATION_THRESHOLD}); the "
            f"release was blocked on {blocked}.\n\n{profile_table(chosen)}"
        )
    return "\n\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, help="seeds per profile")
    parser.add_argument("--output", type=Path, help="write the section into this Markdown file")
    arguments = parser.parse_args()
    if arguments.seeds < 2:
        parser.error("--seeds must be at least 2, for a spread")
    started, load_at_start = time.perf_counter(), os.getloadavg()[0]
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="aesynth-profiles-") as folder:
        for profile in MOCK_PROFILES:
            for seed in range(1, arguments.seeds + 1):
                print(f"{profile} profile, seed {seed} ...", file=sys.stderr, flush=True)
                outcomes.append(run_once(profile, seed, Path(folder)))
    minutes = (time.perf_counter() - started) / 60
    measured_line = (
        f"`{command_line()}` on {machine()}, {dt.date.today().isoformat()}: {minutes:.1f} "
        f"minutes; 1-minute load average {load_at_start:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end. Excess: a figure minus its floor (two real "
        "samples' distance), mean ± standard deviation over the seeds."
    )
    body = section(outcomes, measured_line)
    print(f"{HEADING}\n\n{body}\n", flush=True)
    if arguments.output:
        write_section(arguments.output, HEADING, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
