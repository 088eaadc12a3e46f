"""Datasets as integer codes, so that every comparison of the evaluation is a count.

Each dataset is encoded once, with one vocabulary per column shared by all of them (equal
values get equal codes everywhere); marginals are then `numpy.bincount` over combined codes,
and whole records are compared by one integer key per row.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from aesynth_pipeline.columns import DEIDENTIFIED_COLUMNS, TIME_IN_AE

TIME_BINS = 10


def time_bin_edges(reference: pd.Series, bins: int = TIME_BINS) -> np.ndarray:
    """Whole-minute quantile edges of the reference's time in A&E, open at both ends."""
    quantiles = np.quantile(reference.to_numpy(), np.linspace(0, 1, bins + 1))[1:-1]
    inner = np.unique(np.ceil(quantiles))
    return np.concatenate([[-np.inf], inner, [np.inf]])


@dataclass(frozen=True)
class CodedFrames:
    """Datasets as integer codes, column by column in `DEIDENTIFIED_COLUMNS` order."""

    binned: list[np.ndarray]  # time in A&E by its bin [edge, next edge): for distributions
    binned_sizes: tuple[int, ...]
    exact: list[np.ndarray]  # time in A&E by its value: for matching whole records
    exact_sizes: tuple[int, ...]


def code_frames(frames: Sequence[pd.DataFrame], edges: np.ndarray) -> CodedFrames:
    """Encode `frames` together; the first frame's values get the lowest codes."""
    lengths = [len(frame) for frame in frames]
    binned = np.empty((sum(lengths), len(DEIDENTIFIED_COLUMNS)), dtype=np.int32)
    exact = np.empty_like(binned)
    binned_sizes, exact_sizes = [], []
    for j, column in enumerate(DEIDENTIFIED_COLUMNS):
        values = pd.concat([frame[column] for frame in frames], ignore_index=True)
        codes, vocabulary = pd.factorize(values, use_na_sentinel=False)
        exact[:, j] = codes
        exact_sizes.append(max(len(vocabulary), 1))
        if column == TIME_IN_AE:
            binned[:, j] = np.searchsorted(edges[1:-1], values.to_numpy(dtype=float), "right")
            binned_sizes.append(len(edges) - 1)
        else:
            binned[:, j] = codes
            binned_sizes.append(max(len(vocabulary), 1))
    splits = np.cumsum(lengths)[:-1]
    return CodedFrames(
        binned=np.split(binned, splits),
        binned_sizes=tuple(binned_sizes),
        exact=np.split(exact, splits),
        exact_sizes=tuple(exact_sizes),
    )


def row_keys(codes: Sequence[np.ndarray], sizes: Sequence[int]) -> list[np.ndarray]:
    """One integer per row of each code array: rows are equal exactly when their keys are."""
    stacked = np.concatenate(codes)
    keys, span = np.zeros(len(stacked), dtype=np.int64), 1
    for j, size in enumerate(sizes):
        if span * size >= 2**62:
            # Renumber the distinct keys seen so far before the combined key could overflow.
            _, keys = np.unique(keys, return_inverse=True)
            span = int(keys.max()) + 1
        keys *= size  # in place: a million-row run's keys are 27 MB per column
        keys += stacked[:, j]
        span *= size
    return np.split(keys, np.cumsum([len(c) for c in codes])[:-1])


Combination = tuple[str, ...]


def column_combinations(ways: Iterable[int] = (1, 2, 3)) -> list[Combination]:
    """Every combination of `ways` de-identified columns, in column order."""
    return [
        tuple(DEIDENTIFIED_COLUMNS[j] for j in combination)
        for way in ways
        for combination in itertools.combinations(range(len(DEIDENTIFIED_COLUMNS)), way)
    ]


# A group of columns counted together holds at most this many cells.
BLOCK_CELLS = 2**22


@dataclass(frozen=True)
class CountingPlan:
    """Groups of columns ("blocks") counted together, such that every combination of up to
    `ways` columns lies in a block: every marginal is then a sum of one block's counts.

    Counting is a pass over every record, summing is a pass over a small table, so the 1-,
    2- and 3-way marginals of 8 columns take 14 passes over the records (each triple in
    exactly one block of four columns) rather than one per combination, 92. Counts are
    integers, so every marginal is exactly what counting its own columns would give.
    """

    sizes: tuple[int, ...]
    blocks: tuple[tuple[int, ...], ...]
    ways: int


def counting_plan(sizes: Sequence[int], ways: int = 3, width: int = 4) -> CountingPlan:
    """Blocks of `width` columns that hold every combination of `ways` columns, chosen
    greedily (each covering the most combinations not yet held); a combination that no
    block of at most `BLOCK_CELLS` cells can hold more of becomes its own block."""
    columns = range(len(sizes))
    left = set(itertools.combinations(columns, ways))
    candidates = [
        block
        for block in itertools.combinations(columns, min(width, len(sizes)))
        if math.prod(sizes[j] for j in block) <= BLOCK_CELLS
    ]
    blocks: list[tuple[int, ...]] = []
    while left:
        gains = [len(left.intersection(itertools.combinations(b, ways))) for b in candidates]
        if not gains or max(gains) <= 1:
            blocks += sorted(left)
            break
        best = candidates[int(np.argmax(gains))]
        blocks.append(best)
        left -= set(itertools.combinations(best, ways))
    return CountingPlan(sizes=tuple(sizes), blocks=tuple(blocks), ways=ways)


def block_keys(codes: np.ndarray, plan: CountingPlan) -> list[np.ndarray]:
    """Each record's cell in each block, as one integer per record and block."""
    return [
        np.ravel_multi_index(
            tuple(codes[:, j] for j in block), tuple(plan.sizes[j] for j in block)
        ).astype(np.intp, copy=False)
        for block in plan.blocks
    ]


def marginal_counts(
    keys: Sequence[np.ndarray],
    plan: CountingPlan,
    ways: Iterable[int] = (1, 2, 3),
    weights: np.ndarray | None = None,
) -> dict[Combination, np.ndarray]:
    """Records (or their `weights`, how often each is drawn) in each combination of the
    values of every combination of `ways` columns, from the records' `block_keys`."""
    ways = tuple(ways)
    counts: dict[tuple[int, ...], np.ndarray] = {}
    for block, key in zip(plan.blocks, keys, strict=True):
        shape = tuple(plan.sizes[j] for j in block)
        counts[block] = np.bincount(key, weights, minlength=math.prod(shape)).reshape(shape)
    columns = range(len(plan.sizes))
    # From the widest combinations down, each summed from the first wider one holding it.
    for way in range(min(plan.ways, len(plan.sizes)), min(ways) - 1, -1):
        wider = sorted((c for c in counts if len(c) > way), key=len)
        for combination in itertools.combinations(columns, way):
            if combination in counts:
                continue
            source = next(c for c in wider if set(combination) <= set(c))
            axes = tuple(i for i, j in enumerate(source) if j not in combination)
            counts[combination] = counts[source].sum(axis=axes)
    return {
        tuple(DEIDENTIFIED_COLUMNS[j] for j in combination): counts[combination]
        for way in ways
        for combination in itertools.combinations(columns, way)
    }


def marginal_shares(
    codes: np.ndarray, sizes: Sequence[int], ways: Iterable[int] = (1, 2, 3)
) -> dict[Combination, np.ndarray]:
    """The joint distribution of every combination of `ways` columns, keyed by column names."""
    ways = tuple(ways)
    plan = counting_plan(sizes, max(ways))
    counts = marginal_counts(block_keys(codes, plan), plan, ways)
    return {combination: n / max(len(codes), 1) for combination, n in counts.items()}


def sample_positions(length: int, rows: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of a random sample of `rows` of `length` rows (all when fewer)."""
    if length <= rows:
        return np.arange(length)
    return np.sort(rng.choice(length, size=rows, replace=False))


def sample_rows(frame: pd.DataFrame, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """A random sample of at most `rows` rows, in their original order."""
    if len(frame) <= rows:
        return frame
    return frame.iloc[sample_positions(len(frame), rows, rng)]
