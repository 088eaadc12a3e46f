"""The report's utility classifiers (scikit-learn's HistGradientBoostingClassifier, through
`utility.utility_scores`) with OpenMP's threads as scikit-learn sets them (one per core) and
with one thread (the pipeline picks by size, `utility.ONE_THREAD_BELOW_ROWS`), each alone and
beside a busy process (as when the multiprocess executor runs another step on the other
core), on the training data and on random mode's records (uniform values, on which the trees
grow the most splits).

Sizes: the default run's training data (7,918 records of 10,000 mock attendances) and the
classifiers' sample cap (50,000 records, of a 63,000-row run). The figures themselves must
not change with the threads; the script checks that they do not.

    python benchmarks/classifier_threads_benchmark.py [--repeats 3] [--output benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from pipeline_data import materialised
from results_file import command_line, machine, write_section

from aesynth_pipeline.assets.keys import DEIDENTIFIED_HOLDOUT, DEIDENTIFIED_TRAIN, synthetic_key
from aesynth_pipeline.domain import utility
from aesynth_pipeline.domain.document import markdown_table
from aesynth_pipeline.settings import Settings

HEADING = "## The report's classifiers: threads"
ROWS = {"default run": 10_000, "sample cap": 63_000}
PIPELINE_RULE = utility.ONE_THREAD_BELOW_ROWS


def lake_frames(rows: int) -> dict[str, pd.DataFrame]:
    """The training data, the hold-out and random mode's records of a run at `rows`."""
    settings = Settings(data_lake=tempfile.mkdtemp(), rows=rows, modes=("random",))
    wanted = materialised(
        settings, DEIDENTIFIED_TRAIN, DEIDENTIFIED_HOLDOUT, synthetic_key("random")
    )
    return {key.path[-1]: frame for key, frame in wanted.items()}


def busy() -> None:
    while True:
        pass


def timed(train: pd.DataFrame, test: pd.DataFrame, threshold: float, one_thread: bool):
    # The pipeline's size rule, moved so that it picks the threads this measurement wants.
    utility.ONE_THREAD_BELOW_ROWS = math.inf if one_thread else 0
    started = time.perf_counter()
    scores = utility.utility_scores(train, test, threshold, seed=42)
    return time.perf_counter() - started, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, help="write the table into this Markdown file")
    arguments = parser.parse_args()
    started = time.perf_counter()
    rows = []
    for size, mock_rows in ROWS.items():
        frames = lake_frames(mock_rows)
        test = frames["deidentified_holdout"]
        threshold = float(frames["deidentified_train"]["Time in A&E (mins)"].median())
        for trained_on in ("deidentified_train", "synthetic_random"):
            train = frames[trained_on].head(utility.CLASSIFIER_SAMPLE_ROWS)
            for neighbour in ("alone", "beside a busy process"):
                sibling = None
                if neighbour != "alone":
                    sibling = multiprocessing.get_context("spawn").Process(target=busy)
                    sibling.start()
                try:
                    runs = {
                        one_thread: [
                            timed(train, test, threshold, one_thread)
                            for _ in range(arguments.repeats)
                        ]
                        for one_thread in (False, True)
                    }
                finally:
                    if sibling is not None:
                        sibling.kill()
                        sibling.join()
                seconds = {key: statistics.median(s for s, _ in got) for key, got in runs.items()}
                figures = {result for got in runs.values() for _, result in got}
                rows.append(
                    {
                        "records trained on": f"{len(train):,} ({size})",
                        "trained on": trained_on.replace("_", " "),
                        "cores": neighbour,
                        "s, a thread per core": f"{seconds[False]:.2f}",
                        "s, one thread": f"{seconds[True]:.2f}",
                        "one thread's speed-up": f"{seconds[False] / seconds[True]:.2f}×",
                        "same figures": "yes" if len(figures) == 1 else "NO",
                        "the pipeline uses": "one thread"
                        if len(train) < PIPELINE_RULE
                        else "a thread per core",
                    }
                )
                print(rows[-1], file=sys.stderr, flush=True)
    table = markdown_table(pd.DataFrame(rows))
    command = command_line()
    minutes = (time.perf_counter() - started) / 60
    text = "\n\n".join(
        [
            f"`{command}` on {machine()}, {dt.date.today().isoformat()}: {minutes:.0f} minutes.",
            "Median seconds of both classifiers (age bracket's macro F1 and the long-stay ROC "
            f"AUC) over {arguments.repeats} repeats, scored on the run's hold-out.",
            table,
        ]
    )
    print(text)
    if arguments.output:
        write_section(arguments.output, HEADING, text)


if __name__ == "__main__":
    main()
