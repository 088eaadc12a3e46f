"""How much a synthetic dataset gives away about the records it was trained on.

Each figure is set beside the same figure for the real hold-out, records the synthesiser
never saw: a synthetic dataset should copy, approach and reproduce training records no
more than unseen real records do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from aesynth_pipeline.columns import (
    AGE_BRACKET,
    ARRIVAL_HOUR_RANGE,
    DEIDENTIFIED_COLUMNS,
    GENDER,
    HOSPITAL_ID,
    IMD_DECILE,
    TIME_IN_AE,
)
from aesynth_pipeline.domain.encoding import sample_positions, sample_rows
from aesynth_pipeline.domain.metrics import join_columns, metric_row

QUASI_IDENTIFIERS = [GENDER, AGE_BRACKET, IMD_DECILE, HOSPITAL_ID, ARRIVAL_HOUR_RANGE]
# Distance to closest record compares every pair of records, so it takes this many
# synthetic (and hold-out) records, each against at most this many candidates.
DCR_SAMPLE_ROWS = 1_000
DCR_CANDIDATE_ROWS = 20_000


def exact_match_rate(record_keys: np.ndarray, training_keys: np.ndarray) -> float:
    """Share of records whose key (see `encoding.row_keys`) is some training record's key;
    `training_keys` sorted and distinct."""
    if len(record_keys) == 0 or len(training_keys) == 0:
        return 0.0
    positions = np.minimum(np.searchsorted(training_keys, record_keys), len(training_keys) - 1)
    return float((training_keys[positions] == record_keys).mean())


def distinct_sorted(keys: np.ndarray) -> np.ndarray:
    """`numpy.unique(keys)`, by sorting: numpy's own hashes the keys first, which is some 15
    times slower on hundreds of thousands of distinct keys (numpy 2.4, 792,000 records)."""
    ordered = np.sort(keys)
    if len(ordered) == 0:
        return ordered
    return ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])]


def closest_distances(records: pd.DataFrame, others: pd.DataFrame, time_range: float) -> np.ndarray:
    """Gower distance from each record to its closest record in `others`: the mean over
    columns of 0/1 category mismatches and the time difference scaled by `time_range`."""
    categorical = [c for c in DEIDENTIFIED_COLUMNS if c != TIME_IN_AE]
    codes_records, codes_others = [], []
    for column in categorical:
        codes, _ = pd.factorize(pd.concat([records[column], others[column]], ignore_index=True))
        codes_records.append(codes[: len(records)])
        # One contiguous row per column, so each comparison below streams through memory.
        codes_others.append(np.ascontiguousarray(codes[len(records) :]))
    scale = max(time_range, 1.0)
    left_time = (records[TIME_IN_AE].to_numpy(dtype=float) / scale).astype(np.float32)
    right_time = (others[TIME_IN_AE].to_numpy(dtype=float) / scale).astype(np.float32)
    closest = np.empty(len(records))
    # Blocks of about 250,000 pairs, whose distances stay in the processor's cache: 1.5
    # times faster than blocks of 4 million.
    chunk = max(1, 250_000 // max(len(others), 1))
    for start in range(0, len(records), chunk):
        block = slice(start, start + chunk)
        distance = np.abs(left_time[block, None] - right_time[None, :])
        np.minimum(distance, 1.0, out=distance)
        # One buffer for every column's mismatches, added one column at a time as before.
        differs = np.empty(distance.shape, dtype=bool)
        for left, right in zip(codes_records, codes_others, strict=True):
            np.not_equal(left[block, None], right[None, :], out=differs)
            np.add(distance, differs, out=distance)
        closest[block] = distance.min(axis=1) / len(DEIDENTIFIED_COLUMNS)
    return closest


def combinations_seen_once(keys: np.ndarray) -> np.ndarray:
    """The keys (quasi-identifier combinations) that occur exactly once, sorted."""
    combinations, counts = np.unique(keys, return_counts=True)
    return combinations[counts == 1]


def unique_combination_reappearance(
    sample_keys: np.ndarray, unique_in_training: np.ndarray
) -> float:
    """Share of quasi-identifier combinations unique in training that appear in a sample."""
    if len(unique_in_training) == 0:
        return 0.0
    return float(np.isin(unique_in_training, sample_keys).mean())


@dataclass(frozen=True)
class PrivacyReference:
    """The training records every synthetic dataset is compared with, and the hold-out's
    own figures on the same comparisons."""

    training_keys: np.ndarray  # distinct whole-record keys of the training data, sorted
    unique_in_training: np.ndarray  # quasi-identifier combinations seen once in training
    time_range: float
    training_candidates: pd.DataFrame
    holdout_candidates: pd.DataFrame
    training_like_holdout: pd.DataFrame  # as many training records as holdout_candidates
    holdout_rows: int
    holdout_exact_match_rate: float
    holdout_dcr_median: float
    holdout_reappearance: float


def privacy_reference(
    training: pd.DataFrame,
    holdout: pd.DataFrame,
    record_keys: tuple[np.ndarray, np.ndarray],
    quasi_identifier_keys: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> PrivacyReference:
    """`record_keys` and `quasi_identifier_keys`: of the training data, then the hold-out."""
    training_keys = distinct_sorted(record_keys[0])
    unique_in_training = combinations_seen_once(quasi_identifier_keys[0])
    time_range = float(training[TIME_IN_AE].max() - training[TIME_IN_AE].min())
    training_candidates = sample_rows(training, DCR_CANDIDATE_ROWS, rng)
    holdout_candidates = sample_rows(holdout, DCR_CANDIDATE_ROWS, rng)
    holdout_queries = sample_rows(holdout, DCR_SAMPLE_ROWS, rng)
    return PrivacyReference(
        training_keys=training_keys,
        unique_in_training=unique_in_training,
        time_range=time_range,
        training_candidates=training_candidates,
        holdout_candidates=holdout_candidates,
        training_like_holdout=sample_rows(training, len(holdout_candidates), rng),
        holdout_rows=len(holdout),
        holdout_exact_match_rate=exact_match_rate(record_keys[1], training_keys),
        holdout_dcr_median=float(
            np.median(closest_distances(holdout_queries, training_candidates, time_range))
        ),
        holdout_reappearance=unique_combination_reappearance(
            quasi_identifier_keys[1], unique_in_training
        ),
    )


def privacy_rows(
    mode: str,
    reference: PrivacyReference,
    synthetic: pd.DataFrame,
    record_keys: np.ndarray,
    quasi_identifier_keys: np.ndarray,
    rng: np.random.Generator,
) -> list[dict]:
    """Privacy figures of one synthetic dataset, each beside the hold-out's."""
    queries = sample_rows(synthetic, DCR_SAMPLE_ROWS, rng)
    time_range = reference.time_range
    # Against equally many training and hold-out records, a synthesiser that has not
    # memorised its training data is closer to either about half the time.
    to_training = closest_distances(queries, reference.training_like_holdout, time_range)
    to_holdout = closest_distances(queries, reference.holdout_candidates, time_range)
    closer_share = float(
        np.mean(to_training < to_holdout) + 0.5 * np.mean(to_training == to_holdout)
    )
    to_candidates = closest_distances(queries, reference.training_candidates, time_range)
    same_size = sample_positions(len(quasi_identifier_keys), reference.holdout_rows, rng)
    reappearance = unique_combination_reappearance(
        quasi_identifier_keys[same_size], reference.unique_in_training
    )
    return [
        metric_row(mode, "exact_match_rate", exact_match_rate(record_keys, reference.training_keys),
                   reference=reference.holdout_exact_match_rate),
        metric_row(mode, "dcr_median", np.median(to_candidates),
                   reference=reference.holdout_dcr_median),
        metric_row(mode, "dcr_closer_to_training_share", closer_share, reference=0.5),
        metric_row(mode, "unique_combination_reappearance", reappearance,
                   join_columns(QUASI_IDENTIFIERS), reference=reference.holdout_reappearance),
    ]  # fmt: skip


def privacy_size_rows(mode: str, reference: PrivacyReference, synthetic_rows: int) -> list[dict]:
    """How many records the distance figures rest on."""
    return [
        metric_row(mode, "distance_sample", min(synthetic_rows, DCR_SAMPLE_ROWS),
                   reference=min(reference.holdout_rows, DCR_SAMPLE_ROWS)),
        metric_row(mode, "distance_candidates", len(reference.training_candidates),
                   reference=len(reference.holdout_candidates)),
    ]  # fmt: skip
