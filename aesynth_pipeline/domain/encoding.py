"""Datasets as integer codes, so that every comparison of the evaluation is a count.

Each dataset is encoded once, with one vocabulary per column shared by all of them (equal
values get equal codes everywhere); marginals are then `numpy.bincount` over combined codes,
and whole records are compared by one integer key per row.
"""

from __future__ import annotations

import itertools
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
        keys = keys * size + stacked[:, j]
        span *= size
    return np.split(keys, np.cumsum([len(c) for c in codes])[:-1])


def joint_shares(codes: np.ndarray, sizes: Sequence[int], columns: Sequence[int]) -> np.ndarray:
    """Share of rows in each combination of the given columns' values, as a dense array."""
    shape = tuple(sizes[j] for j in columns)
    keys = np.ravel_multi_index(tuple(codes[:, j] for j in columns), shape)
    counts = np.bincount(keys, minlength=int(np.prod(shape)))
    return (counts / max(len(codes), 1)).reshape(shape)


Combination = tuple[str, ...]


def column_combinations(ways: Iterable[int] = (1, 2, 3)) -> list[Combination]:
    """Every combination of `ways` de-identified columns, in column order."""
    return [
        tuple(DEIDENTIFIED_COLUMNS[j] for j in combination)
        for way in ways
        for combination in itertools.combinations(range(len(DEIDENTIFIED_COLUMNS)), way)
    ]


def marginal_shares(
    codes: np.ndarray, sizes: Sequence[int], ways: Iterable[int] = (1, 2, 3)
) -> dict[Combination, np.ndarray]:
    """The joint distribution of every combination of `ways` columns, keyed by column names."""
    return {
        combination: joint_shares(
            codes, sizes, [DEIDENTIFIED_COLUMNS.index(name) for name in combination]
        )
        for combination in column_combinations(ways)
    }


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
