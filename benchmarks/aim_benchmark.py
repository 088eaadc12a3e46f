"""AIM (aesynth_pipeline/domain/aim.py) on the pipeline's de-identified data: how long a fit
takes, and how close its records come to the training data, beside the sampling floor.

For each size it materialises the pipeline up to the de-identified table from seeded mock
data, keeps the training part of the pipeline's split (a fifth held out), and encodes it:
each categorical column by its sorted values, Time in A&E cut into 16 bins of 15 minutes over
0-240 (longer stays clipped into the last). For each seed it fits AIM at ε = 1, δ = 1e-9
(ρ-zCDP by the tight conversion) twice, each time in a fresh process: first with an empty JAX
compilation cache (cold), then with the cache the first fit filled (warm). Then it generates
as many records as it trained on, and reports the mean total variation distance of the 28
2-way marginals against the training codes, and the floor: the same distance between two
independent resamples (with replacement) of the training codes, averaged over 10 pairs.

    python benchmarks/aim_benchmark.py [--rows 10000 1000000] [--seeds 0 1 2]
                                       [--epsilon 1] [--delta 1e-9]

`--rows` are the mock attendances generated; about 79 % of them reach the training data.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from aesynth_pipeline.columns import DEIDENTIFIED_COLUMNS, TIME_IN_AE
from aesynth_pipeline.domain import aim
from aesynth_pipeline.domain.encoding import joint_shares
from aesynth_pipeline.domain.holdout import split_train_holdout

DEFAULT_ROWS = (10_000, 1_000_000)
DEFAULT_SEEDS = (0, 1, 2)
TIME_BINS = 16
TIME_RANGE_MINUTES = 240
FLOOR_REPETITIONS = 10


def training_codes(rows: int) -> tuple[np.ndarray, list[int], list[str]]:
    """The pipeline's training data at `rows` mock attendances, as integer codes."""
    from aesynth_pipeline_tests.conftest import FOUNDATION, materialise_pipeline

    with tempfile.TemporaryDirectory() as lake:
        run = materialise_pipeline(Path(lake), rows=rows, pseudonym_key="k", selection=FOUNDATION)
        [path] = Path(lake).rglob("hospital_ae_deidentified.parquet")
        deidentified = pd.read_parquet(path)
    training, _ = split_train_holdout(deidentified, run.settings.holdout_share, run.settings.seed)
    codes = np.empty((len(training), len(DEIDENTIFIED_COLUMNS)), dtype=np.int64)
    sizes = []
    for j, column in enumerate(DEIDENTIFIED_COLUMNS):
        if column == TIME_IN_AE:
            minutes = np.clip(training[column].to_numpy(), 0, TIME_RANGE_MINUTES - 1)
            codes[:, j] = minutes * TIME_BINS // TIME_RANGE_MINUTES
            sizes.append(TIME_BINS)
        else:
            codes[:, j], values = pd.factorize(training[column], sort=True)
            sizes.append(len(values))
    return codes, sizes, list(DEIDENTIFIED_COLUMNS)


def timed_fit(
    codes: np.ndarray, sizes: list[int], names: list[str], rho: float, seed: int, cache: str
) -> tuple[float, dict, float]:
    """Runs in a fresh process: fit seconds (JAX's import included), the description, and
    the process's peak resident memory in MiB."""
    start = time.perf_counter()
    description = aim.fit_aim(codes, sizes, names, rho, seed, cache_dir=cache)
    seconds = time.perf_counter() - start
    # VmHWM, not ru_maxrss: the latter survives exec, so it would count the parent's memory
    # at the moment it started this process.
    status = Path("/proc/self/status").read_text()
    [peak_kib] = [line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")]
    return seconds, description, int(peak_kib) / 1024


def fit_in_fresh_process(*arguments: object) -> tuple[float, dict, float]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(timed_fit, arguments)


def mean_two_way_tvd(first: np.ndarray, second: np.ndarray, sizes: list[int]) -> float:
    return float(
        np.mean(
            [
                0.5
                * np.abs(joint_shares(first, sizes, pair) - joint_shares(second, sizes, pair)).sum()
                for pair in itertools.combinations(range(len(sizes)), 2)
            ]
        )
    )


def floor(codes: np.ndarray, sizes: list[int], seed: int) -> float:
    rng = np.random.default_rng(seed)
    return float(
        np.mean(
            [
                mean_two_way_tvd(
                    codes[rng.integers(0, len(codes), len(codes))],
                    codes[rng.integers(0, len(codes), len(codes))],
                    sizes,
                )
                for _ in range(FLOOR_REPETITIONS)
            ]
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=list(DEFAULT_ROWS))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--delta", type=float, default=1e-9)
    arguments = parser.parse_args()
    rho = aim.zcdp_rho(arguments.epsilon, arguments.delta)
    load_before = os.getloadavg()[0]

    table = [
        "| training rows | seed | fit s (cold) | fit s (warm) | peak MiB | rounds "
        "| cliques measured | ρ spent / ρ | 2-way TVD | floor | TVD − floor |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rows in arguments.rows:
        codes, sizes, names = training_codes(rows)
        floor_tvd = floor(codes, sizes, seed=0)
        for seed in arguments.seeds:
            with tempfile.TemporaryDirectory() as cache:
                cold, description, peak = fit_in_fresh_process(
                    codes, sizes, names, rho, seed, cache
                )
                warm, again, _ = fit_in_fresh_process(codes, sizes, names, rho, seed, cache)
            if again != description:
                raise SystemExit("the warm fit's description differs from the cold fit's")
            generated = aim.generate_aim(description, len(codes), seed)
            tvd = mean_two_way_tvd(generated, codes, sizes)
            ledger = description["ledger"]
            spent = description["privacy"]["rho_spent"] / rho
            measured = len({tuple(e["clique"]) for e in ledger})
            table.append(
                f"| {len(codes):,} | {seed} | {cold:.1f} | {warm:.1f} | {peak:,.0f} "
                f"| {max(e['round'] for e in ledger)} | {measured} | {spent:.12f} "
                f"| {tvd:.4f} | {floor_tvd:.4f} | {tvd - floor_tvd:+.4f} |"
            )
            print(table[-1], file=sys.stderr, flush=True)

    print(
        f"AIM at ε = {arguments.epsilon:g}, δ = {arguments.delta:g} (ρ = {rho:.5f}); "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; 1-minute load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after (fits are timed on a busy "
        "machine when these are well above 1)"
    )
    print()
    print("\n".join(table))


if __name__ == "__main__":
    main()
