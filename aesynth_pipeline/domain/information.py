"""Mutual information of two attributes from their joint table, as scikit-learn computes it.

Shared by the fast synthesiser (which scores candidate parents by it) and the evaluation
(which compares datasets by it); both count joint tables with `numpy.bincount` first.
"""

from __future__ import annotations

import math

import numpy as np


def mutual_information(joint: np.ndarray) -> float:
    """Mutual information (natural log) of a two-way table of counts or shares, as
    scikit-learn's `mutual_info_score` computes it from a contingency table."""
    total = float(joint.sum())
    first, second = joint.sum(axis=1), joint.sum(axis=0)
    rows, cols = np.nonzero(joint)
    cells = joint[rows, cols]
    shares = cells / total
    log_outer = -np.log(first[rows] * second[cols]) + 2 * math.log(total)
    terms = shares * (np.log(cells) - math.log(total)) + shares * log_outer
    terms = np.where(np.abs(terms) < np.finfo(float).eps, 0.0, terms)
    return float(max(terms.sum(), 0.0))


def normalised_mutual_information(joint: np.ndarray) -> float:
    """Normalised mutual information of a two-way table, as scikit-learn's
    `normalized_mutual_info_score` (arithmetic mean of the entropies) computes it."""
    first, second = joint.sum(axis=1), joint.sum(axis=0)
    classes, clusters = np.count_nonzero(first), np.count_nonzero(second)
    if classes == clusters and classes <= 1:
        return 1.0
    information = mutual_information(joint)
    if information == 0:
        return 0.0
    entropies = [_entropy(first), _entropy(second)]
    return information / max(float(np.mean(entropies)), np.finfo(float).eps)


def _entropy(counts: np.ndarray) -> float:
    shares = counts[counts > 0] / counts.sum()
    return -float((shares * np.log(shares)).sum())
