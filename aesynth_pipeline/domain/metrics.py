"""The catalogue of evaluation metrics: each metric's name, family, direction and the one
sentence that explains it, written once. The evaluation writes rows under these names, and
the report, the plots, the release rules and the tests read them from here.

Every metric is one row of a tidy table (`METRIC_COLUMNS`). Fidelity figures carry a
*floor*: what a perfect synthesiser would score at the same sizes (two independent samples
of the training data's distribution), its spread over the repetitions, and the *excess*: how
much worse than the floor the figure is. Utility and privacy figures carry a *reference*
from real data instead (a model trained on real data; the unseen hold-out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

FIDELITY, UTILITY, PRIVACY, SIZE = "fidelity", "utility", "privacy", "size"
ASSOCIATION, DISCLOSURE = "association", "disclosure"
# Rows about the training data itself (which pairs of columns are associated).
TRAINING_MODE = "training"
METRIC_COLUMNS = [
    "mode", "family", "metric", "columns", "value", "floor", "floor_spread", "excess",
    "reference",
]  # fmt: skip
DISCLOSURE_COLUMNS = ["quasi_identifiers", "metric", "value"]
SMALL_GROUP = 5


@dataclass(frozen=True)
class Metric:
    name: str
    family: str
    explanation: str
    higher_is_better: bool = False
    # One row per column or combination of columns, rather than one for the whole table.
    per_combination: bool = False


_METRICS = (
    # Fidelity: SDMetrics' reports.
    Metric("quality_score", FIDELITY, "SDMetrics' overall quality score (0-1, higher is "
           "closer): the average of column shapes and column pair trends.", True),
    Metric("column_shapes", FIDELITY, "How alike each column's distribution is in the two "
           "datasets (SDMetrics, 0-1, higher is closer).", True),
    Metric("column_pair_trends", FIDELITY, "How alike the relations between pairs of columns "
           "are (SDMetrics, 0-1), counting only the pairs SDMetrics finds strongly related in "
           "the real data.", True),
    Metric("column_pair_trends_all_pairs", FIDELITY, "The same over every pair of columns "
           "(association thresholds at 0), so unrelated pairs count too.", True),
    Metric("boundary_adherence", FIDELITY, "Share of synthetic numbers within the training "
           "data's range (SDMetrics).", True, per_combination=True),
    Metric("category_adherence", FIDELITY, "Share of synthetic categories that the training "
           "data holds (SDMetrics).", True, per_combination=True),
    Metric("table_structure", FIDELITY, "Whether the synthetic table has the same columns "
           "with the same types (SDMetrics, 1 = yes).", True),
    Metric("schema_violation_share", FIDELITY, "Share of records that break the dataset's "
           "schema: a wrong column or type, or a value outside the column's declared "
           "domain (0 = none)."),
    # Fidelity: marginal distributions, on every record.
    Metric("tvd_1way", FIDELITY, "Total variation distance between this column's "
           "distributions (0 = identical, 1 = no overlap); time in A&E in ten bins.",
           per_combination=True),
    Metric("tvd_1way_mean", FIDELITY, "Average total variation distance of the columns' "
           "distributions."),
    Metric("tvd_1way_max", FIDELITY, "The worst column's total variation distance (the "
           "column is named)."),
    Metric("tvd_2way", FIDELITY, "Total variation distance between this pair of columns' "
           "joint distributions.", per_combination=True),
    Metric("tvd_2way_mean", FIDELITY, "Average total variation distance over every pair of "
           "columns, related or not; where most pairs are unrelated it is mostly sampling "
           "noise and cannot tell a mode that keeps relations from one that drops them."),
    Metric("tvd_2way_max", FIDELITY, "The worst pair's total variation distance, over every "
           "pair."),
    Metric("tvd_2way_associated_mean", FIDELITY, "Average total variation distance over the "
           "pairs that are associated in the training data: how well the relations that "
           "exist are reproduced."),
    Metric("tvd_2way_associated_max", FIDELITY, "The worst associated pair's total variation "
           "distance (the pair is named)."),
    Metric("tvd_3way_mean", FIDELITY, "Average total variation distance over every triple "
           "of columns."),
    Metric("tvd_3way_max", FIDELITY, "The worst triple's total variation distance."),
    Metric("nmi_mean_abs_difference", FIDELITY, "Average gap between the pairwise normalised "
           "mutual information of the two datasets (0 = every dependency kept at its "
           "strength)."),
    # The training data itself.
    Metric("cramers_v", ASSOCIATION, "How strongly this pair of columns is associated in the "
           "training data (Cramér's V with the small-sample bias correction, 0 = unrelated, "
           "1 = one determines the other); reference: the threshold above which the pair "
           "counts as associated.", per_combination=True),
    # Utility.
    Metric("age_bracket_macro_f1", UTILITY, "A classifier that predicts the age bracket, "
           "trained on this data and scored on the hold-out (macro F1, higher is better); "
           "reference: trained on the real training data.", True),
    Metric("age_bracket_macro_f1_ratio", UTILITY, "Synthetic-trained score divided by "
           "real-trained score (1 = as useful as real data for this task).", True),
    Metric("long_stay_roc_auc", UTILITY, "A classifier that predicts a stay longer than the "
           "real median time in A&E, trained on this data and scored on the hold-out (ROC "
           "AUC, 0.5 = guessing); reference: trained on the real training data.", True),
    Metric("long_stay_roc_auc_ratio", UTILITY, "Synthetic-trained ROC AUC divided by "
           "real-trained ROC AUC.", True),
    # Privacy of a synthetic dataset.
    Metric("exact_match_rate", PRIVACY, "Share of records identical, in every column, to a "
           "training record; reference: the same share for the unseen hold-out."),
    Metric("dcr_median", PRIVACY, "Median distance from a record to its closest training "
           "record (0 = a copy; Gower distance on a sample); reference: hold-out records.",
           True),
    Metric("dcr_closer_to_training_share", PRIVACY, "Share of synthetic records closer to the "
           "training data than to an equally large set of unseen real records (0.5 = no "
           "closer than chance)."),
    Metric("unique_combination_reappearance", PRIVACY, "Share of quasi-identifier "
           "combinations unique in the training data that reappear in a sample as large as "
           "the hold-out; reference: the hold-out itself."),
    # How many records the figures rest on.
    Metric("records", SIZE, "Records in the synthetic dataset; reference: records in the "
           "hold-out."),
    Metric("floor_repetitions", SIZE, "Pairs of independent samples of the training data "
           "behind each marginal floor; reference: behind each SDMetrics floor."),
    Metric("distance_sample", SIZE, "Synthetic records sampled for the distance-to-closest-"
           "record figures, which compare every pair of records; reference: hold-out records "
           "sampled the same way."),
    Metric("distance_candidates", SIZE, "Training records those samples are compared with (a "
           "sample when the training data is larger); reference: hold-out records, and as "
           "many training records, for the closer-to-training share."),
    Metric("sdmetrics_sample", SIZE, "Synthetic records given to SDMetrics' reports (a sample "
           "when larger); reference: training records they are compared with."),
    Metric("classifier_sample", SIZE, "Synthetic records the classifiers are trained on (a "
           "sample when larger; the real-trained reference uses as many training records); "
           "reference: hold-out records they are scored on."),
    # Disclosure risk of the de-identified table itself.
    Metric("k_anonymity", DISCLOSURE, "The size of the smallest group of records sharing the "
           "same quasi-identifiers (higher is safer; 1 means someone is unique).", True),
    Metric("share_in_small_groups", DISCLOSURE, f"Share of records in a group of fewer than "
           f"{SMALL_GROUP} sharing their quasi-identifiers."),
    Metric("share_unique", DISCLOSURE, "Share of records that are the only one with their "
           "quasi-identifiers."),
    Metric("l_diversity_treatment", DISCLOSURE, "The fewest distinct treatments within any "
           "quasi-identifier group (1 means someone's treatment can be inferred from their "
           "group).", True),
)  # fmt: skip
METRICS: dict[str, Metric] = {metric.name: metric for metric in _METRICS}


def names(family: str, per_combination: bool = False) -> list[str]:
    """The metrics of a family, in catalogue order."""
    return [m.name for m in _METRICS if m.family == family and m.per_combination == per_combination]


def join_columns(columns: tuple[str, ...] | list[str]) -> str:
    """How a combination of columns is named in the `columns` field."""
    return " × ".join(columns)


def metric_row(
    mode: str,
    metric: str,
    value: float,
    columns: str = "",
    *,
    floor: float = math.nan,
    floor_spread: float = math.nan,
    reference: float = math.nan,
) -> dict[str, object]:
    """One row of the metrics table; the excess over the floor follows the metric's
    direction, so a positive excess is always worse than a perfect synthesiser."""
    spec = METRICS[metric]
    excess = floor - value if spec.higher_is_better else value - floor
    return {
        "mode": mode,
        "family": spec.family,
        "metric": metric,
        "columns": columns,
        "value": float(value),
        "floor": float(floor),
        "floor_spread": float(floor_spread),
        "excess": float(excess),
        "reference": float(reference),
    }


def metric_value(metrics: pd.DataFrame, mode: str, metric: str) -> pd.Series:
    """The one row of a whole-table metric of one mode."""
    row = metrics[(metrics["mode"] == mode) & (metrics["metric"] == metric)]
    if len(row) != 1:
        raise KeyError(f"expected one '{metric}' row for {mode} mode, found {len(row)}")
    return row.iloc[0]


def synthetic_modes(metrics: pd.DataFrame) -> list[str]:
    """The synthetic datasets the table describes, in the order they were evaluated."""
    return [mode for mode in metrics["mode"].unique() if mode != TRAINING_MODE]
