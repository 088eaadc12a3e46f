"""How faithful, how useful and how safe each synthetic dataset is.

Every figure is computed twice where it can be: once for the synthetic data and once for the
real hold-out (rows never shown to the synthesiser) on the same test against the training
data. The hold-out's score is the yardstick: a good synthetic dataset is as close to the
training data as unseen real data is, not "close to 0".

The result is one tidy table (`METRIC_COLUMNS`), from which the report and the release gate
are built.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import f1_score, roc_auc_score

from aesynth_pipeline.columns import (
    AGE_BRACKET,
    ARRIVAL_DATE,
    ARRIVAL_HOUR_RANGE,
    DEIDENTIFIED_COLUMNS,
    GENDER,
    HOSPITAL_ID,
    IMD_DECILE,
    TIME_IN_AE,
    TREATMENT,
)
from aesynth_pipeline.domain import information

TIME_BINS = 10
# Beyond these sizes a figure runs on a random sample of each dataset, and the size rows of the
# metrics table say how large. Distance to closest record compares every pair of records, so it
# takes this many synthetic (and hold-out) records, each against at most this many candidates.
DCR_SAMPLE_ROWS = 1_000
DCR_CANDIDATE_ROWS = 20_000
# SDMetrics' reports and the classifiers grow with the rows and settle long before a million.
SDMETRICS_SAMPLE_ROWS = 50_000
CLASSIFIER_SAMPLE_ROWS = 50_000

FIDELITY, UTILITY, PRIVACY, SIZE = "fidelity", "utility", "privacy", "size"
DEIDENTIFIED_MODE = "deidentified"
METRIC_COLUMNS = ["mode", "family", "metric", "columns", "value", "reference"]

QUASI_IDENTIFIERS = [GENDER, AGE_BRACKET, IMD_DECILE, HOSPITAL_ID, ARRIVAL_HOUR_RANGE]
QUASI_IDENTIFIER_SETS = {
    "quasi-identifiers": QUASI_IDENTIFIERS,
    "quasi-identifiers + Arrival Date": [*QUASI_IDENTIFIERS, ARRIVAL_DATE],
}
SMALL_GROUP = 5

# One sentence per metric, for a reader who is not a specialist; the report shows them.
METRIC_EXPLANATIONS = {
    "quality_score": "SDMetrics' overall quality score (0-1, higher is closer): the average of "
    "column shapes and column pair trends.",
    "column_shapes": "How alike each column's distribution is in the two datasets (0-1, "
    "higher is closer).",
    "column_pair_trends": "How alike the relations between pairs of columns are (0-1), "
    "counting only the pairs SDMetrics finds strongly related in the real data.",
    "column_pair_trends_all_pairs": "The same, over every pair of columns (association "
    "thresholds at 0), so weak relations count too.",
    "boundary_adherence": "Share of synthetic numbers that lie within the real data's range.",
    "category_adherence": "Share of synthetic categories that exist in the real data.",
    "table_structure": "Whether the synthetic table has the same columns with the same types.",
    "tvd_1way": "Total variation distance between this column's distributions (0 = "
    "identical, 1 = no overlap).",
    "tvd_2way": "Total variation distance between this pair of columns' joint distributions.",
    "tvd_1way_mean": "Average total variation distance between single-column distributions "
    "(0 = identical, 1 = no overlap); time in A&E in ten bins.",
    "tvd_1way_max": "The worst single column's total variation distance.",
    "tvd_2way_mean": "Average total variation distance between the joint distributions of "
    "every pair of columns: how well combinations of two values are reproduced.",
    "tvd_2way_max": "The worst pair of columns' total variation distance.",
    "tvd_3way_mean": "Average total variation distance over every triple of columns.",
    "tvd_3way_max": "The worst triple of columns' total variation distance.",
    "nmi_mean_abs_difference": "Average gap between the pairwise normalised mutual "
    "information of the two datasets (0 = every dependency kept at its strength).",
    "age_bracket_macro_f1": "A classifier that predicts the age bracket, trained on this "
    "data and scored on the hold-out (macro F1, higher is better); reference: trained on "
    "the real training data.",
    "age_bracket_macro_f1_ratio": "Synthetic-trained score divided by real-trained score "
    "(1 = synthetic data is as useful as real data for this task).",
    "long_stay_roc_auc": "A classifier that predicts a stay longer than the real median "
    "time in A&E, trained on this data and scored on the hold-out (ROC AUC, 0.5 = guessing).",
    "long_stay_roc_auc_ratio": "Synthetic-trained ROC AUC divided by real-trained ROC AUC.",
    "exact_match_rate": "Share of records identical, in every column, to a training record; "
    "reference: the same share for the unseen hold-out.",
    "dcr_median": "Median distance from a record to its closest training record (0 = a "
    "copy; Gower distance on a sample); reference: hold-out records.",
    "dcr_closer_to_training_share": "Share of synthetic records closer to the training data "
    "than to an equally large set of unseen real records (0.5 = no closer than chance).",
    "unique_combination_reappearance": "Share of quasi-identifier combinations unique in the "
    "training data that reappear in a sample as large as the hold-out; reference: the "
    "hold-out itself.",
    "k_anonymity": "The size of the smallest group of records sharing the same "
    "quasi-identifiers (higher is safer; 1 means someone is unique).",
    "share_in_small_groups": f"Share of records in a group of fewer than {SMALL_GROUP} "
    "sharing their quasi-identifiers.",
    "share_unique": "Share of records that are the only one with their quasi-identifiers.",
    "l_diversity_treatment": "The fewest distinct treatments within any quasi-identifier "
    "group (1 means someone's treatment can be inferred from their group).",
    "records": "Records in the synthetic dataset; reference: records in the hold-out.",
    "distance_sample": "Synthetic records sampled for the distance-to-closest-record figures, "
    "which compare every pair of records and so do not scale to every row; reference: "
    "hold-out records sampled the same way.",
    "distance_candidates": "Training records those samples are compared with (a sample when "
    "the training data is larger); reference: hold-out records, and as many training records, "
    "for the closer-to-training share.",
    "sdmetrics_sample": "Synthetic records given to SDMetrics' reports (a sample when larger); "
    "reference: training records they are compared with.",
    "classifier_sample": "Synthetic records the classifiers are trained on (a sample when "
    "larger; the real-trained reference uses as many training records); reference: hold-out "
    "records they are scored on.",
}
MODE_INDEPENDENT_METRICS = (
    "k_anonymity",
    "share_in_small_groups",
    "share_unique",
    "l_diversity_treatment",
)


# --- Shared preparation -------------------------------------------------------------------


def time_bin_edges(reference: pd.Series, bins: int = TIME_BINS) -> np.ndarray:
    """Whole-minute quantile edges of the reference's time in A&E, open at both ends."""
    quantiles = np.quantile(reference.to_numpy(), np.linspace(0, 1, bins + 1))[1:-1]
    inner = np.unique(np.ceil(quantiles))
    return np.concatenate([[-np.inf], inner, [np.inf]])


@dataclass(frozen=True)
class CodedFrames:
    """Datasets as integer codes, column by column in `DEIDENTIFIED_COLUMNS` order, with one
    vocabulary per column shared by all of them, so equal values get equal codes everywhere.

    Every comparison runs on these codes (`numpy.bincount` over combined codes), so each
    dataset's strings are hashed once rather than once per metric.
    """

    binned: list[np.ndarray]  # time in A&E by its bin [edge, next edge): for distributions
    binned_sizes: tuple[int, ...]
    exact: list[np.ndarray]  # time in A&E by its value: for matching whole records
    exact_sizes: tuple[int, ...]


def code_frames(frames: Sequence[pd.DataFrame], edges: np.ndarray) -> CodedFrames:
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


def _joint_shares(codes: np.ndarray, sizes: Sequence[int], columns: Sequence[int]) -> np.ndarray:
    """Share of rows in each combination of the given columns' values, as a dense array."""
    shape = tuple(sizes[j] for j in columns)
    keys = np.ravel_multi_index(tuple(codes[:, j] for j in columns), shape)
    counts = np.bincount(keys, minlength=int(np.prod(shape)))
    return (counts / max(len(codes), 1)).reshape(shape)


def marginal_shares(
    codes: np.ndarray, sizes: Sequence[int], ways: Iterable[int] = (1, 2, 3)
) -> dict[tuple[str, ...], np.ndarray]:
    """The joint distribution of every combination of `ways` columns, keyed by column names."""
    shares = {}
    for way in ways:
        for combination in itertools.combinations(range(len(DEIDENTIFIED_COLUMNS)), way):
            names = tuple(DEIDENTIFIED_COLUMNS[j] for j in combination)
            shares[names] = _joint_shares(codes, sizes, combination)
    return shares


def total_variation_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Half the summed absolute difference of two distributions over the same cells."""
    return float(0.5 * np.abs(first - second).sum())


def marginal_distances(
    training: pd.DataFrame, other: pd.DataFrame, way: int
) -> dict[tuple[str, ...], float]:
    """Total variation distance of every `way`-column marginal, time in A&E in the training
    data's bins."""
    coded = code_frames([training, other], time_bin_edges(training[TIME_IN_AE]))
    shares = [marginal_shares(codes, coded.binned_sizes, [way]) for codes in coded.binned]
    return {
        combination: total_variation_distance(training_share, shares[1][combination])
        for combination, training_share in shares[0].items()
    }


def _information_matrix(pair_shares: dict[tuple[str, ...], np.ndarray]) -> pd.DataFrame:
    matrix = pd.DataFrame(
        np.eye(len(DEIDENTIFIED_COLUMNS)), index=DEIDENTIFIED_COLUMNS, columns=DEIDENTIFIED_COLUMNS
    )
    for (first, second), joint in pair_shares.items():
        score = information.normalised_mutual_information(joint)
        matrix.loc[first, second] = matrix.loc[second, first] = score
    return matrix


def normalised_mutual_information(frame: pd.DataFrame, edges: np.ndarray) -> pd.DataFrame:
    """Pairwise normalised mutual information of the de-identified columns, time in A&E cut
    at `edges` (0 = independent, 1 = one determines the other)."""
    coded = code_frames([frame], edges)
    return _information_matrix(marginal_shares(coded.binned[0], coded.binned_sizes, [2]))


def _rows(mode: str, family: str, metric: str, columns: str, value: float, reference: float):
    return {
        "mode": mode,
        "family": family,
        "metric": metric,
        "columns": columns,
        "value": float(value),
        "reference": float(reference),
    }


def _join(columns: Iterable[str]) -> str:
    return " × ".join(columns)


def _sample(frame: pd.DataFrame, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= rows:
        return frame
    return frame.iloc[_sample_positions(len(frame), rows, rng)]


def _sample_positions(length: int, rows: int, rng: np.random.Generator) -> np.ndarray:
    if length <= rows:
        return np.arange(length)
    return np.sort(rng.choice(length, size=rows, replace=False))


# --- Fidelity -----------------------------------------------------------------------------


def _sdmetrics_metadata() -> dict:
    return {
        "tables": {
            "attendances": {
                "columns": {
                    column: {"sdtype": "numerical" if column == TIME_IN_AE else "categorical"}
                    for column in DEIDENTIFIED_COLUMNS
                }
            }
        }
    }


@dataclass(frozen=True)
class SdmetricsScores:
    quality_score: float
    column_shapes: float
    column_pair_trends: float
    column_pair_trends_all_pairs: float
    adherence: dict[str, tuple[str, float]]
    table_structure: float


def sdmetrics_scores(real: pd.DataFrame, synthetic: pd.DataFrame) -> SdmetricsScores:
    """SDMetrics' quality report (at its default association thresholds and at 0) and its
    diagnostic report."""
    from sdmetrics.reports import DiagnosticReport, QualityReport

    real_tables = {"attendances": real[DEIDENTIFIED_COLUMNS]}
    synthetic_tables = {"attendances": synthetic[DEIDENTIFIED_COLUMNS]}
    metadata = _sdmetrics_metadata()
    with _silenced():
        default = QualityReport()
        default.generate(real_tables, synthetic_tables, metadata, verbose=False)
        # The default thresholds leave weakly related pairs unscored; at 0 every pair counts.
        all_pairs = QualityReport()
        all_pairs.real_association_threshold = 0
        all_pairs.real_correlation_threshold = 0
        all_pairs.generate(real_tables, synthetic_tables, metadata, verbose=False)
        diagnostic = DiagnosticReport()
        diagnostic.generate(real_tables, synthetic_tables, metadata, verbose=False)
    properties = default.get_properties().set_index("Property")["Score"]
    all_pairs_properties = all_pairs.get_properties().set_index("Property")["Score"]
    validity = diagnostic.get_details("Data Validity")
    structure = diagnostic.get_details("Data Structure")
    return SdmetricsScores(
        quality_score=float(default.get_score()),
        column_shapes=float(properties["Column Shapes"]),
        column_pair_trends=float(properties["Column Pair Trends"]),
        column_pair_trends_all_pairs=float(all_pairs_properties["Column Pair Trends"]),
        adherence={
            row["Column"]: (
                "boundary_adherence"
                if row["Metric"] == "BoundaryAdherence"
                else "category_adherence",
                float(row["Score"]),
            )
            for _, row in validity.iterrows()
        },
        table_structure=float(structure["Score"].iloc[0]),
    )


@contextlib.contextmanager
def _silenced():
    """SDMetrics prints progress and warns about its own internals; keep the run log clean."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


@dataclass(frozen=True)
class FidelityFigures:
    """What fidelity_metrics needs of one dataset compared with the training data."""

    sdmetrics: SdmetricsScores
    distances: dict[tuple[str, ...], float]  # every 1-, 2- and 3-way marginal
    information_gap: float


def fidelity_figures(
    baseline: Baseline, frame: pd.DataFrame, codes: np.ndarray, rng: np.random.Generator
) -> FidelityFigures:
    shares = marginal_shares(codes, baseline.coded.binned_sizes)
    pairs = {combination: joint for combination, joint in shares.items() if len(combination) == 2}
    gap = (_information_matrix(pairs) - baseline.training_information).abs().to_numpy()
    return FidelityFigures(
        sdmetrics=sdmetrics_scores(
            baseline.training_sdmetrics_sample, _sample(frame, SDMETRICS_SAMPLE_ROWS, rng)
        ),
        distances={
            combination: total_variation_distance(baseline.training_shares[combination], share)
            for combination, share in shares.items()
        },
        information_gap=float(gap[~np.eye(len(gap), dtype=bool)].mean()),
    )


def fidelity_metrics(mode: str, synthetic: FidelityFigures, holdout: FidelityFigures) -> list[dict]:
    rows = [
        _rows(mode, FIDELITY, name, "", getattr(synthetic.sdmetrics, name),
              getattr(holdout.sdmetrics, name))
        for name in ("quality_score", "column_shapes", "column_pair_trends",
                     "column_pair_trends_all_pairs", "table_structure")
    ]  # fmt: skip
    for column, (metric, score) in synthetic.sdmetrics.adherence.items():
        rows.append(
            _rows(mode, FIDELITY, metric, column, score, holdout.sdmetrics.adherence[column][1])
        )
    for way in (1, 2, 3):
        combinations = [c for c in synthetic.distances if len(c) == way]
        if way < 3:
            rows += [
                _rows(mode, FIDELITY, f"tvd_{way}way", _join(combination),
                      synthetic.distances[combination], holdout.distances[combination])
                for combination in combinations
            ]  # fmt: skip
        for summary, function in (("mean", np.mean), ("max", np.max)):
            rows.append(
                _rows(mode, FIDELITY, f"tvd_{way}way_{summary}", "",
                      function([synthetic.distances[c] for c in combinations]),
                      function([holdout.distances[c] for c in combinations]))
            )  # fmt: skip
    rows.append(
        _rows(mode, FIDELITY, "nmi_mean_abs_difference", "", synthetic.information_gap,
              holdout.information_gap)
    )  # fmt: skip
    return rows


# --- Utility ------------------------------------------------------------------------------


def _encode(frames: Sequence[pd.DataFrame], features: list[str]) -> list[np.ndarray]:
    """Integer codes per categorical feature, from one vocabulary shared by all frames."""
    encoded = [np.empty((len(f), len(features))) for f in frames]
    for j, feature in enumerate(features):
        if feature == TIME_IN_AE:
            for matrix, frame in zip(encoded, frames, strict=True):
                matrix[:, j] = frame[feature].to_numpy(dtype=float)
            continue
        vocabulary = sorted(set().union(*(frame[feature].astype(str) for frame in frames)))
        for matrix, frame in zip(encoded, frames, strict=True):
            matrix[:, j] = pd.Categorical(frame[feature].astype(str), categories=vocabulary).codes
    return encoded


def _classifier(features: list[str], seed: int) -> HistGradientBoostingClassifier:
    categorical = [feature != TIME_IN_AE for feature in features]
    return HistGradientBoostingClassifier(
        categorical_features=categorical, max_iter=100, random_state=seed
    )


def age_bracket_f1(train: pd.DataFrame, test: pd.DataFrame, seed: int) -> float:
    features = [c for c in DEIDENTIFIED_COLUMNS if c != AGE_BRACKET]
    x_train, x_test = _encode([train, test], features)
    model = _classifier(features, seed).fit(x_train, train[AGE_BRACKET].astype(str))
    return float(f1_score(test[AGE_BRACKET].astype(str), model.predict(x_test), average="macro"))


def long_stay_auc(train: pd.DataFrame, test: pd.DataFrame, threshold: float, seed: int) -> float:
    features = [c for c in DEIDENTIFIED_COLUMNS if c != TIME_IN_AE]
    target = train[TIME_IN_AE] > threshold
    if target.nunique() < 2:
        return 0.5  # a model that has only seen one outcome cannot rank: no better than chance
    x_train, x_test = _encode([train, test], features)
    model = _classifier(features, seed).fit(x_train, target)
    return float(roc_auc_score(test[TIME_IN_AE] > threshold, model.predict_proba(x_test)[:, 1]))


@dataclass(frozen=True)
class UtilityScores:
    age_bracket_f1: float
    long_stay_auc: float


def utility_scores(
    baseline: Baseline, train: pd.DataFrame, rng: np.random.Generator
) -> UtilityScores:
    """Classifiers trained on (a sample of) `train`, scored on (a sample of) the hold-out."""
    sample = _sample(train, CLASSIFIER_SAMPLE_ROWS, rng)
    test, seed = baseline.holdout_classifier_sample, baseline.seed
    return UtilityScores(
        age_bracket_f1=age_bracket_f1(sample, test, seed),
        long_stay_auc=long_stay_auc(sample, test, baseline.long_stay_threshold, seed),
    )


def utility_metrics(mode: str, synthetic: UtilityScores, real: UtilityScores) -> list[dict]:
    f1, real_f1 = synthetic.age_bracket_f1, real.age_bracket_f1
    auc, real_auc = synthetic.long_stay_auc, real.long_stay_auc
    return [
        _rows(mode, UTILITY, "age_bracket_macro_f1", AGE_BRACKET, f1, real_f1),
        _rows(mode, UTILITY, "age_bracket_macro_f1_ratio", AGE_BRACKET, f1 / real_f1, 1.0),
        _rows(mode, UTILITY, "long_stay_roc_auc", TIME_IN_AE, auc, real_auc),
        _rows(mode, UTILITY, "long_stay_roc_auc_ratio", TIME_IN_AE, auc / real_auc, 1.0),
    ]


# --- Privacy of a synthetic dataset -------------------------------------------------------


def exact_match_rate(record_keys: np.ndarray, training_keys: np.ndarray) -> float:
    """Share of records whose key (see `row_keys`) is some training record's key;
    `training_keys` sorted and distinct."""
    if len(record_keys) == 0 or len(training_keys) == 0:
        return 0.0
    positions = np.minimum(np.searchsorted(training_keys, record_keys), len(training_keys) - 1)
    return float((training_keys[positions] == record_keys).mean())


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
    chunk = max(1, 4_000_000 // max(len(others), 1))
    for start in range(0, len(records), chunk):
        block = slice(start, start + chunk)
        distance = np.abs(left_time[block, None] - right_time[None, :])
        np.minimum(distance, 1.0, out=distance)
        for left, right in zip(codes_records, codes_others, strict=True):
            distance += left[block, None] != right[None, :]
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
class DistanceFigures:
    """Distances from a sample of synthetic records to their closest real records."""

    to_training: np.ndarray  # against the training candidates
    closer_to_training_share: float  # against equally many training and hold-out candidates


def distance_figures(
    baseline: Baseline, synthetic: pd.DataFrame, rng: np.random.Generator
) -> DistanceFigures:
    queries = _sample(synthetic, DCR_SAMPLE_ROWS, rng)
    time_range = baseline.time_range
    # Against equally many training and hold-out records, a synthesiser that has not
    # memorised its training data is closer to either about half the time.
    to_training = closest_distances(queries, baseline.training_like_holdout, time_range)
    to_holdout = closest_distances(queries, baseline.holdout_candidates, time_range)
    return DistanceFigures(
        to_training=closest_distances(queries, baseline.training_candidates, time_range),
        closer_to_training_share=float(
            np.mean(to_training < to_holdout) + 0.5 * np.mean(to_training == to_holdout)
        ),
    )


def privacy_metrics(
    mode: str,
    baseline: Baseline,
    synthetic: pd.DataFrame,
    position: int,
    rng: np.random.Generator,
) -> list[dict]:
    """Privacy figures of the synthetic dataset at `position` in `baseline.coded`."""
    keys = baseline.record_keys[position]
    qi_keys = baseline.quasi_identifier_keys[position]
    same_size = _sample_positions(len(keys), len(baseline.holdout), rng)
    match_rate = exact_match_rate(keys, baseline.training_record_keys)
    distances = distance_figures(baseline, synthetic, rng)
    return [
        _rows(mode, PRIVACY, "exact_match_rate", "",
              match_rate, baseline.holdout_exact_match_rate),
        _rows(mode, PRIVACY, "dcr_median", "",
              np.median(distances.to_training), np.median(baseline.holdout_to_training)),
        _rows(mode, PRIVACY, "dcr_closer_to_training_share", "",
              distances.closer_to_training_share, 0.5),
        _rows(mode, PRIVACY, "unique_combination_reappearance", _join(QUASI_IDENTIFIERS),
              unique_combination_reappearance(qi_keys[same_size], baseline.unique_in_training),
              baseline.holdout_reappearance),
    ]  # fmt: skip


# --- Privacy of the de-identified data itself --------------------------------------------


@dataclass(frozen=True)
class Anonymity:
    k_anonymity: int
    share_in_small_groups: float
    share_unique: float
    l_diversity_treatment: int


def anonymity(frame: pd.DataFrame, quasi_identifiers: list[str]) -> Anonymity:
    """k-anonymity and friends over the records' quasi-identifier groups."""
    codes, sizes = [], []
    for column in [*quasi_identifiers, TREATMENT]:
        column_codes, vocabulary = pd.factorize(frame[column], use_na_sentinel=False)
        codes.append(column_codes)
        sizes.append(max(len(vocabulary), 1))
    stacked = np.column_stack(codes)
    (group_keys,) = row_keys([stacked[:, :-1]], sizes[:-1])
    _, group = np.unique(group_keys, return_inverse=True)
    group_sizes = np.bincount(group)
    size = group_sizes[group]
    treatments_per_group = np.bincount(np.unique(group * sizes[-1] + stacked[:, -1]) // sizes[-1])
    return Anonymity(
        k_anonymity=int(group_sizes.min()),
        share_in_small_groups=float((size < SMALL_GROUP).mean()),
        share_unique=float((size == 1).mean()),
        l_diversity_treatment=int(treatments_per_group.min()),
    )


def deidentified_privacy_metrics(deidentified: pd.DataFrame) -> list[dict]:
    rows = []
    for name, quasi_identifiers in QUASI_IDENTIFIER_SETS.items():
        result = anonymity(deidentified, quasi_identifiers)
        rows += [
            _rows(DEIDENTIFIED_MODE, PRIVACY, metric, name, getattr(result, metric), np.nan)
            for metric in MODE_INDEPENDENT_METRICS
        ]
    return rows


# --- Everything ---------------------------------------------------------------------------


class Baseline:
    """The real data every synthetic dataset is compared with, and the hold-out's own
    figures on the same comparisons, computed once for all modes.

    `coded` holds the training data first, then the hold-out, then each synthetic dataset.
    """

    def __init__(
        self,
        training: pd.DataFrame,
        holdout: pd.DataFrame,
        synthetic: Sequence[pd.DataFrame],
        seed: int,
    ) -> None:
        self.seed = seed
        self.holdout = holdout
        rng = np.random.default_rng(np.random.SeedSequence([seed, 6]))
        edges = time_bin_edges(training[TIME_IN_AE])
        self.coded = code_frames([training, holdout, *synthetic], edges)
        self.record_keys = row_keys(self.coded.exact, self.coded.exact_sizes)
        self.training_record_keys = np.unique(self.record_keys[0])
        qi = [DEIDENTIFIED_COLUMNS.index(c) for c in QUASI_IDENTIFIERS]
        self.quasi_identifier_keys = row_keys(
            [codes[:, qi] for codes in self.coded.exact], [self.coded.exact_sizes[j] for j in qi]
        )
        self.training_shares = marginal_shares(self.coded.binned[0], self.coded.binned_sizes)
        self.training_information = _information_matrix(
            {c: joint for c, joint in self.training_shares.items() if len(c) == 2}
        )
        self.training_sdmetrics_sample = _sample(training, SDMETRICS_SAMPLE_ROWS, rng)
        self.holdout_classifier_sample = _sample(holdout, CLASSIFIER_SAMPLE_ROWS, rng)
        self.long_stay_threshold = float(training[TIME_IN_AE].median())
        self.time_range = float(training[TIME_IN_AE].max() - training[TIME_IN_AE].min())
        self.training_candidates = _sample(training, DCR_CANDIDATE_ROWS, rng)
        self.holdout_candidates = _sample(holdout, DCR_CANDIDATE_ROWS, rng)
        self.training_like_holdout = _sample(training, len(self.holdout_candidates), rng)

        self.holdout_fidelity = fidelity_figures(self, holdout, self.coded.binned[1], rng)
        self.real_utility = utility_scores(self, training, rng)
        self.holdout_to_training = closest_distances(
            _sample(holdout, DCR_SAMPLE_ROWS, rng), self.training_candidates, self.time_range
        )
        self.holdout_exact_match_rate = exact_match_rate(
            self.record_keys[1], self.training_record_keys
        )
        self.unique_in_training = combinations_seen_once(self.quasi_identifier_keys[0])
        self.holdout_reappearance = unique_combination_reappearance(
            self.quasi_identifier_keys[1], self.unique_in_training
        )


def evaluate(
    training: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic_by_mode: dict[str, pd.DataFrame],
    seed: int,
    progress: Callable[[str], None] = lambda message: None,
) -> pd.DataFrame:
    """The tidy metrics table for every mode, plus the de-identified data's own privacy."""
    progress("the real data: encoding, and the hold-out's reference figures")
    baseline = Baseline(training, holdout, list(synthetic_by_mode.values()), seed)
    rows = []
    for position, (mode, synthetic) in enumerate(synthetic_by_mode.items(), start=2):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 7, position]))
        progress(f"{mode} mode: fidelity")
        figures = fidelity_figures(baseline, synthetic, baseline.coded.binned[position], rng)
        rows += fidelity_metrics(mode, figures, baseline.holdout_fidelity)
        progress(f"{mode} mode: utility")
        scores = utility_scores(baseline, synthetic, rng)
        rows += utility_metrics(mode, scores, baseline.real_utility)
        progress(f"{mode} mode: privacy")
        rows += privacy_metrics(mode, baseline, synthetic, position, rng)
        rows += size_rows(mode, baseline, synthetic)
    progress("de-identified data: anonymity")
    rows += deidentified_privacy_metrics(pd.concat([training, holdout], ignore_index=True))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def size_rows(mode: str, baseline: Baseline, synthetic: pd.DataFrame) -> list[dict]:
    """How many records each figure rests on: for the sampling-error allowances, and so the
    report can say where a figure comes from a sample."""
    holdout = len(baseline.holdout)
    return [
        _rows(mode, SIZE, "records", "", len(synthetic), holdout),
        _rows(mode, SIZE, "distance_sample", "", min(len(synthetic), DCR_SAMPLE_ROWS),
              min(holdout, DCR_SAMPLE_ROWS)),
        _rows(mode, SIZE, "distance_candidates", "", len(baseline.training_candidates),
              len(baseline.holdout_candidates)),
        _rows(mode, SIZE, "sdmetrics_sample", "", min(len(synthetic), SDMETRICS_SAMPLE_ROWS),
              len(baseline.training_sdmetrics_sample)),
        _rows(mode, SIZE, "classifier_sample", "", min(len(synthetic), CLASSIFIER_SAMPLE_ROWS),
              len(baseline.holdout_classifier_sample)),
    ]  # fmt: skip


def metric_value(metrics: pd.DataFrame, mode: str, metric: str) -> tuple[float, float]:
    """(value, reference) of a whole-table metric of one mode."""
    row = metrics[(metrics["mode"] == mode) & (metrics["metric"] == metric)]
    if len(row) != 1:
        raise KeyError(f"expected one '{metric}' row for {mode} mode, found {len(row)}")
    return float(row["value"].iloc[0]), float(row["reference"].iloc[0])


# --- Release gate -------------------------------------------------------------------------


@dataclass(frozen=True)
class GateThresholds:
    """Limits a synthetic dataset must meet before release."""

    # The correlated mode must reproduce pairs of columns this closely (mean 2-way TVD).
    max_tvd_2way_correlated: float = 0.10
    # Allowance for sampling error, in standard errors, where a figure is compared with the
    # hold-out's or with chance.
    standard_errors: float = 3.0


GATE_RULES = {
    "fidelity": "The correlated mode's mean 2-way total variation distance is at most the limit.",
    "exact_matches": "No more synthetic records copy a training record than unseen real "
    "records do (the hold-out's rate), beyond sampling error.",
    "distance_to_closest_record": "Synthetic records are no closer to the training data than "
    "to unseen real data, beyond sampling error.",
}
GATE_COLUMNS = ["mode", "rule", "passed", "value", "limit"]


def release_gate(metrics: pd.DataFrame, thresholds: GateThresholds) -> pd.DataFrame:
    """One row per mode and rule: the figure, the limit it must not exceed, and the verdict."""
    z = thresholds.standard_errors
    rows = []
    for mode in metrics.loc[metrics["mode"] != DEIDENTIFIED_MODE, "mode"].unique():
        if mode == "correlated":
            value, _ = metric_value(metrics, mode, "tvd_2way_mean")
            rows.append((mode, "fidelity", value, thresholds.max_tvd_2way_correlated))
        synthetic_rows, holdout_rows = metric_value(metrics, mode, "records")
        rate, holdout_rate = metric_value(metrics, mode, "exact_match_rate")
        error = np.sqrt(
            rate * (1 - rate) / synthetic_rows + holdout_rate * (1 - holdout_rate) / holdout_rows
        )
        rows.append((mode, "exact_matches", rate, holdout_rate + z * error))
        share, _ = metric_value(metrics, mode, "dcr_closer_to_training_share")
        sample, _ = metric_value(metrics, mode, "distance_sample")
        rows.append((mode, "distance_to_closest_record", share, 0.5 + z * np.sqrt(0.25 / sample)))
    gate = pd.DataFrame(rows, columns=["mode", "rule", "value", "limit"])
    gate["passed"] = gate["value"] <= gate["limit"]
    return gate[GATE_COLUMNS]
