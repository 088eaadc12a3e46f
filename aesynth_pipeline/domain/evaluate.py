"""How close a synthetic dataset is to the de-identified data it was learned from."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import normalized_mutual_info_score

from aesynth_pipeline.columns import DEIDENTIFIED_COLUMNS, TIME_IN_AE

TIME_BINS = 10


def time_bin_edges(reference: pd.Series, bins: int = TIME_BINS) -> np.ndarray:
    """Quantile edges of the reference's time in A&E, open at both ends so any value fits."""
    quantiles = np.quantile(reference.to_numpy(), np.linspace(0, 1, bins + 1))[1:-1]
    inner = np.unique(np.ceil(quantiles))
    return np.concatenate([[-np.inf], inner, [np.inf]])


def as_categories(frame: pd.DataFrame, edges: np.ndarray) -> pd.DataFrame:
    """Every column as strings, with time in A&E cut into the given bins, for comparisons
    that treat each value as a category (mutual information, marginal distributions)."""
    binned = pd.cut(frame[TIME_IN_AE], bins=edges, right=False)
    labels = binned.map(_bin_label, na_action="ignore").astype(str)
    return frame[DEIDENTIFIED_COLUMNS].astype(str).assign(**{TIME_IN_AE: labels})


def _bin_label(interval: pd.Interval) -> str:
    if np.isinf(interval.left):
        return f"<{interval.right:g}"
    if np.isinf(interval.right):
        return f"{interval.left:g}+"
    return f"{interval.left:g}-{interval.right - 1:g}"


def normalised_mutual_information(categories: pd.DataFrame) -> pd.DataFrame:
    """Pairwise normalised mutual information (0 = independent, 1 = one determines the other)."""
    columns = list(categories.columns)
    codes = {column: pd.factorize(categories[column])[0] for column in columns}
    matrix = pd.DataFrame(np.eye(len(columns)), index=columns, columns=columns)
    for i, first in enumerate(columns):
        for second in columns[i + 1 :]:
            score = normalized_mutual_info_score(codes[first], codes[second])
            matrix.loc[first, second] = matrix.loc[second, first] = score
    return matrix
