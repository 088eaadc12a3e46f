"""The fast correlated engine with honest accounting beside DataSynthesizer's, on the default
run's training data: what each spends, and how faithful each is, over many seeds.

"DataSynthesizer's accounting" is the engine as DataSynthesizer 0.1.13 runs it at ε: it spends
about 2.5ε for one record replaced (1-way histograms at a further full ε) and calibrates its
network score to the exact row count. "Add/remove" is the pipeline's default: exactly ε for one
attendance added or removed, over the declared domain. Each seed's synthetic data (as many
records as the training data) is compared with the training data the way the evaluation does:
the mean 2-way total variation distance and the worst associated pair, beside the floor of two
real samples of that size.

    python benchmarks/accounting_benchmark.py [--rows 10000] [--seeds 20] [--epsilon 1]
        [--output benchmarks/RESULTS.md]

With --output the table replaces the file's "## Correlated mode's accounting" section (or is
appended as one).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from pipeline_data import materialised
from results_file import command_line, machine, write_section

from aesynth_pipeline.assets.keys import DEIDENTIFIED_TRAIN
from aesynth_pipeline.assets.synthesis import declared_domain
from aesynth_pipeline.domain import privbayes
from aesynth_pipeline.domain.document import markdown_table
from aesynth_pipeline.domain.encoding import code_frames, time_bin_edges
from aesynth_pipeline.domain.fidelity import (
    fidelity_reference,
    marginal_figures,
    marginal_floors,
    marginals,
)
from aesynth_pipeline.settings import Settings

HEADING = "## Correlated mode's accounting"
ACCOUNTINGS = {
    "DataSynthesizer's (≈ 2.5ε, one record replaced)": "datasynthesizer",
    "add/remove (exactly ε)": "add_remove",
}


def training_data(rows: int) -> tuple[pd.DataFrame, Settings]:
    """The training part of a run's de-identified data at `rows` mock attendances, and the
    run's settings."""
    settings = Settings(data_lake=tempfile.mkdtemp(), rows=rows, pseudonym_key="k")
    return materialised(settings, DEIDENTIFIED_TRAIN)[DEIDENTIFIED_TRAIN], settings


def _standard_error(values: np.ndarray) -> float:
    return float(values.std(ddof=1) / np.sqrt(len(values)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--degree", type=int, default=1)
    parser.add_argument("--output", type=Path, help="write the table into this Markdown file")
    arguments = parser.parse_args()
    started = time.perf_counter()

    training, settings = training_data(arguments.rows)
    domain = declared_domain(settings, "correlated")
    edges = time_bin_edges(training["Time in A&E (mins)"])
    [training_codes] = code_frames([training], edges).binned
    sizes = code_frames([training], edges).binned_sizes
    reference = fidelity_reference(training_codes, sizes, settings.association_threshold)
    floor = marginal_floors(reference, len(training), seed=0)
    floor_mean = floor.mean[("tvd_2way_mean", "")]

    introduction = (
        f"Correlated mode, fast engine, k = {arguments.degree}, ε = {arguments.epsilon}, "
        f"{len(training):,} training records, {arguments.seeds} seeds; associated pairs: "
        + ", ".join(" × ".join(pair) for pair in reference.associated)
        + f"; floor of the mean 2-way TVD {floor_mean:.4f}; load average "
        f"{os.getloadavg()[0]:.1f} at the start"
    )
    print(introduction + "\n", flush=True)
    rows = []
    for label, accounting in ACCOUNTINGS.items():
        means, worst, seconds, spent = [], [], [], None
        for seed in range(arguments.seeds):
            started = time.perf_counter()
            description = privbayes.describe_correlated(
                training, arguments.epsilon, arguments.degree, seed,
                domain=domain, accounting=accounting,
            )  # fmt: skip
            synthetic = privbayes.generate_correlated(
                description, len(training), seed, domain=domain
            )
            seconds.append(time.perf_counter() - started)
            # Encoded together, so that a value only the synthetic data hold gets its own code.
            coded = code_frames([training, synthetic], edges)
            figures, _ = marginal_figures(
                marginals(coded.binned[0], coded.binned_sizes),
                marginals(coded.binned[1], coded.binned_sizes),
                reference.associated,
            )
            means.append(figures[("tvd_2way_mean", "")])
            worst.append(figures[("tvd_2way_associated_max", "")])
            if "privacy_ledger" in description:
                spent = description["privacy_ledger"]["total"]["epsilon"]
        means, worst = np.array(means), np.array(worst)
        claimed = f"{spent:.3f}" if spent is not None else f"≈ {2.5 * arguments.epsilon:g}"
        rows.append(
            {
                "accounting": label,
                "ε spent": claimed,
                "mean 2-way TVD": f"{means.mean():.4f} ± {_standard_error(means):.4f}",
                "its range": f"{means.min():.3f}–{means.max():.3f}",
                "worst associated pair": f"{worst.mean():.3f} ± {_standard_error(worst):.3f}",
                "seeds ≤ 0.10 on it": f"{(worst <= 0.10).sum()}/{len(worst)}",
                "s per seed": f"{np.mean(seconds):.3f}",
            }
        )
    table = markdown_table(pd.DataFrame(rows))
    closing = (
        "± is the standard error of the mean over seeds. The target: honest accounting "
        "(exactly ε) no worse than DataSynthesizer's beyond sampling error. Load average "
        f"{os.getloadavg()[0]:.1f} at the end."
    )
    print(table + "\n\n" + closing)
    if arguments.output:
        command = command_line()
        minutes = (time.perf_counter() - started) / 60
        measured = (
            f"`{command}` on {machine()}, {dt.date.today().isoformat()}: {minutes:.0f} minutes."
        )
        write_section(
            arguments.output, HEADING, "\n\n".join([measured, introduction, table, closing])
        )


if __name__ == "__main__":
    main()
