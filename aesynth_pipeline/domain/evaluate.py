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
from sklearn.metrics import f1_score, normalized_mutual_info_score, roc_auc_score

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

TIME_BINS = 10
# Distance to closest record is quadratic in the rows compared, so it runs on a sample of
# this many synthetic (and hold-out) records.
DCR_SAMPLE_ROWS = 1_000

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
    "which compare every pair of records and so do not scale to every row.",
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


# --- Fidelity -----------------------------------------------------------------------------


def total_variation_distance(first: pd.DataFrame, second: pd.DataFrame) -> float:
    """Half the summed absolute difference of the joint distributions of all given columns."""
    columns = list(first.columns)
    shares_first = first.value_counts(normalize=True)
    shares_second = second[columns].value_counts(normalize=True)
    aligned = pd.concat([shares_first, shares_second], axis=1).fillna(0.0)
    return float(0.5 * (aligned.iloc[:, 0] - aligned.iloc[:, 1]).abs().sum())


def marginal_distances(
    training: pd.DataFrame, other: pd.DataFrame, way: int
) -> dict[tuple[str, ...], float]:
    """Total variation distance of every `way`-column marginal (inputs already categorised)."""
    return {
        combination: total_variation_distance(training[list(combination)], other[list(combination)])
        for combination in itertools.combinations(DEIDENTIFIED_COLUMNS, way)
    }


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


def fidelity_metrics(
    mode: str, training: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame
) -> list[dict]:
    rows = []
    synthetic_scores = sdmetrics_scores(training, synthetic)
    holdout_scores = sdmetrics_scores(training, holdout)
    for name in ("quality_score", "column_shapes", "column_pair_trends",
                 "column_pair_trends_all_pairs", "table_structure"):  # fmt: skip
        rows.append(
            _rows(
                mode,
                FIDELITY,
                name,
                "",
                getattr(synthetic_scores, name),
                getattr(holdout_scores, name),
            )  # fmt: skip
        )
    for column, (metric, score) in synthetic_scores.adherence.items():
        rows.append(
            _rows(mode, FIDELITY, metric, column, score, holdout_scores.adherence[column][1])
        )

    edges = time_bin_edges(training[TIME_IN_AE])
    training_categories = as_categories(training, edges)
    synthetic_categories = as_categories(synthetic, edges)
    holdout_categories = as_categories(holdout, edges)
    for way in (1, 2, 3):
        synthetic_distances = marginal_distances(training_categories, synthetic_categories, way)
        holdout_distances = marginal_distances(training_categories, holdout_categories, way)
        if way < 3:
            rows += [
                _rows(
                    mode,
                    FIDELITY,
                    f"tvd_{way}way",
                    _join(combination),
                    distance,
                    holdout_distances[combination],
                )  # fmt: skip
                for combination, distance in synthetic_distances.items()
            ]
        for summary, function in (("mean", np.mean), ("max", np.max)):
            rows.append(
                _rows(
                    mode,
                    FIDELITY,
                    f"tvd_{way}way_{summary}",
                    "",
                    function(list(synthetic_distances.values())),
                    function(list(holdout_distances.values())),
                )  # fmt: skip
            )

    training_information = normalised_mutual_information(training_categories)
    rows.append(
        _rows(
            mode,
            FIDELITY,
            "nmi_mean_abs_difference",
            "",
            _mean_off_diagonal_gap(training_information, synthetic_categories),
            _mean_off_diagonal_gap(training_information, holdout_categories),
        )  # fmt: skip
    )
    return rows


def _mean_off_diagonal_gap(reference: pd.DataFrame, categories: pd.DataFrame) -> float:
    gap = (normalised_mutual_information(categories) - reference).abs().to_numpy()
    return float(gap[~np.eye(len(gap), dtype=bool)].mean())


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


def utility_metrics(
    mode: str, training: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, seed: int
) -> list[dict]:
    threshold = float(training[TIME_IN_AE].median())
    real_f1 = age_bracket_f1(training, holdout, seed)
    synthetic_f1 = age_bracket_f1(synthetic, holdout, seed)
    real_auc = long_stay_auc(training, holdout, threshold, seed)
    synthetic_auc = long_stay_auc(synthetic, holdout, threshold, seed)
    return [
        _rows(mode, UTILITY, "age_bracket_macro_f1", AGE_BRACKET, synthetic_f1, real_f1),
        _rows(
            mode, UTILITY, "age_bracket_macro_f1_ratio", AGE_BRACKET, synthetic_f1 / real_f1, 1.0
        ),  # fmt: skip
        _rows(mode, UTILITY, "long_stay_roc_auc", TIME_IN_AE, synthetic_auc, real_auc),
        _rows(
            mode, UTILITY, "long_stay_roc_auc_ratio", TIME_IN_AE, synthetic_auc / real_auc, 1.0
        ),  # fmt: skip
    ]


# --- Privacy of a synthetic dataset -------------------------------------------------------


def exact_match_rate(records: pd.DataFrame, training: pd.DataFrame) -> float:
    """Share of `records` identical in every column to at least one training record."""
    seen = pd.MultiIndex.from_frame(training[DEIDENTIFIED_COLUMNS].drop_duplicates())
    return float(pd.MultiIndex.from_frame(records[DEIDENTIFIED_COLUMNS]).isin(seen).mean())


def closest_distances(records: pd.DataFrame, others: pd.DataFrame, time_range: float) -> np.ndarray:
    """Gower distance from each record to its closest record in `others`: the mean over
    columns of 0/1 category mismatches and the time difference scaled by `time_range`."""
    categorical = [c for c in DEIDENTIFIED_COLUMNS if c != TIME_IN_AE]
    codes_records, codes_others = [], []
    for column in categorical:
        vocabulary = pd.Index(pd.concat([records[column], others[column]]).astype(str).unique())
        codes_records.append(vocabulary.get_indexer(records[column].astype(str)))
        codes_others.append(vocabulary.get_indexer(others[column].astype(str)))
    left, right = np.stack(codes_records, axis=1), np.stack(codes_others, axis=1)
    left_time = records[TIME_IN_AE].to_numpy(dtype=float) / max(time_range, 1.0)
    right_time = others[TIME_IN_AE].to_numpy(dtype=float) / max(time_range, 1.0)
    closest = np.empty(len(records))
    chunk = max(1, 2_000_000 // max(len(others), 1))
    for start in range(0, len(records), chunk):
        block = slice(start, start + chunk)
        mismatches = (left[block, None, :] != right[None, :, :]).sum(axis=2)
        time_gap = np.minimum(np.abs(left_time[block, None] - right_time[None, :]), 1.0)
        closest[block] = ((mismatches + time_gap) / len(DEIDENTIFIED_COLUMNS)).min(axis=1)
    return closest


def unique_combination_reappearance(records: pd.DataFrame, training: pd.DataFrame) -> float:
    """Share of quasi-identifier combinations unique in training that appear in `records`."""
    counts = training.groupby(QUASI_IDENTIFIERS, observed=True).size()
    unique = counts[counts == 1].index
    if len(unique) == 0:
        return 0.0
    present = pd.MultiIndex.from_frame(records[QUASI_IDENTIFIERS].drop_duplicates())
    return float(unique.isin(present).mean())


def privacy_metrics(
    mode: str, training: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, seed: int
) -> list[dict]:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 6]))
    time_range = float(training[TIME_IN_AE].max() - training[TIME_IN_AE].min())
    synthetic_sample = _sample(synthetic, DCR_SAMPLE_ROWS, rng)
    holdout_sample = _sample(holdout, DCR_SAMPLE_ROWS, rng)

    synthetic_to_training = closest_distances(synthetic_sample, training, time_range)
    holdout_to_training = closest_distances(holdout_sample, training, time_range)
    # Against equally many training and hold-out records, a synthesiser that has not
    # memorised its training data is closer to either about half the time.
    training_like_holdout = _sample(training, len(holdout), rng)
    to_training = closest_distances(synthetic_sample, training_like_holdout, time_range)
    to_holdout = closest_distances(synthetic_sample, holdout, time_range)
    closer_share = float(
        np.mean(to_training < to_holdout) + 0.5 * np.mean(to_training == to_holdout)
    )

    same_size_sample = _sample(synthetic, len(holdout), rng)
    return [
        _rows(mode, PRIVACY, "exact_match_rate", "",
              exact_match_rate(synthetic, training), exact_match_rate(holdout, training)),
        _rows(mode, PRIVACY, "dcr_median", "",
              np.median(synthetic_to_training), np.median(holdout_to_training)),
        _rows(mode, PRIVACY, "dcr_closer_to_training_share", "", closer_share, 0.5),
        _rows(mode, PRIVACY, "unique_combination_reappearance", _join(QUASI_IDENTIFIERS),
              unique_combination_reappearance(same_size_sample, training),
              unique_combination_reappearance(holdout, training)),
    ]  # fmt: skip


def _sample(frame: pd.DataFrame, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= rows:
        return frame
    return frame.iloc[np.sort(rng.choice(len(frame), size=rows, replace=False))]


# --- Privacy of the de-identified data itself --------------------------------------------


@dataclass(frozen=True)
class Anonymity:
    k_anonymity: int
    share_in_small_groups: float
    share_unique: float
    l_diversity_treatment: int


def anonymity(frame: pd.DataFrame, quasi_identifiers: list[str]) -> Anonymity:
    """k-anonymity and friends over the records' quasi-identifier groups."""
    groups = frame.groupby(quasi_identifiers, observed=True)
    size = groups[TREATMENT].transform("size")
    return Anonymity(
        k_anonymity=int(size.min()),
        share_in_small_groups=float((size < SMALL_GROUP).mean()),
        share_unique=float((size == 1).mean()),
        l_diversity_treatment=int(groups[TREATMENT].nunique().min()),
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


def evaluate(
    training: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic_by_mode: dict[str, pd.DataFrame],
    seed: int,
    progress: Callable[[str], None] = lambda message: None,
) -> pd.DataFrame:
    """The tidy metrics table for every mode, plus the de-identified data's own privacy."""
    rows = []
    for mode, synthetic in synthetic_by_mode.items():
        progress(f"{mode} mode: fidelity")
        rows += fidelity_metrics(mode, training, holdout, synthetic)
        progress(f"{mode} mode: utility")
        rows += utility_metrics(mode, training, holdout, synthetic, seed)
        progress(f"{mode} mode: privacy")
        rows += privacy_metrics(mode, training, holdout, synthetic, seed)
        rows += size_rows(mode, synthetic, holdout)
    progress("de-identified data: anonymity")
    rows += deidentified_privacy_metrics(pd.concat([training, holdout], ignore_index=True))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def size_rows(mode: str, synthetic: pd.DataFrame, holdout: pd.DataFrame) -> list[dict]:
    """How many records each figure rests on, for the sampling-error allowances."""
    return [
        _rows(mode, SIZE, "records", "", len(synthetic), len(holdout)),
        _rows(mode, SIZE, "distance_sample", "", min(len(synthetic), DCR_SAMPLE_ROWS), np.nan),
    ]


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
