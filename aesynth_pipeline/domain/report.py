"""What the evaluation report says: its summary, its sections and their tables, built from
the metrics table, the release gate and the verdicts (see `document.py` for rendering)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from aesynth_pipeline.domain import ledger
from aesynth_pipeline.domain.document import (
    AMBER,
    FAIL,
    GREEN,
    PASS,
    RED,
    Document,
    Figure,
    markdown_table,
)
from aesynth_pipeline.domain.gate import (
    COLUMN_RULE,
    PAIR_RULE,
    PRIVACY_RULES,
    RULES,
    GateThresholds,
    ModeVerdict,
    Recommendation,
    associated_pairs,
)
from aesynth_pipeline.domain.metrics import (
    ASSOCIATION,
    FIDELITY,
    METRICS,
    PRIVACY,
    SIZE,
    UTILITY,
    metric_value,
    names,
    synthetic_modes,
)
from aesynth_pipeline.domain.modes import PROMISE_WORDS

GOOD_UTILITY_RATIO, FAIR_UTILITY_RATIO = 0.9, 0.7
AUDIENCE = (
    "For the data controller only, not for publication. This report shows figures computed "
    "from the real training data (histograms, mutual-information heatmaps, marginal "
    "distances, associations), so it reveals more about the real records than the "
    "synthetic data does; share only the synthetic dataset it recommends. It holds no "
    "identifier: only de-identified attributes appear in it."
)
EPSILON_EXPLANATION = (
    "ε (epsilon) is the differential-privacy budget of the independent, correlated and aim "
    "modes, spent in all on everything a mode's description holds (the privacy ledger below "
    "itemises it): the smaller ε, the more random noise is added while learning from the "
    "data, so the synthetic data reveals less about any one attendance and also resembles the "
    "data less. The unit protected is one attendance: a patient who attended k times is "
    "protected at k times the budget. ε = 0 turns DataSynthesizer's noise off."
)


@dataclass(frozen=True)
class ReportInputs:
    """Everything the report shows, computed before it is written."""

    metrics: pd.DataFrame
    gate: pd.DataFrame
    judgements: pd.DataFrame
    verdicts: list[ModeVerdict]
    recommendation: Recommendation
    thresholds: GateThresholds
    disclosure: pd.DataFrame
    facts: Mapping[str, object]
    # Each mode's privacy ledger, from its description.
    ledgers: Mapping[str, dict]


# --- The summary --------------------------------------------------------------------------


def _light(judged: pd.DataFrame) -> str:
    """good when every marginal is kept, fair within twice the tolerance, poor beyond."""
    if judged.empty:
        return "n/a (no associated pair)"
    worst = judged.loc[(judged["value"] - judged["limit"]).idxmax()]
    light = GREEN if judged["kept"].all() else AMBER if (
        judged["value"] <= judged["fair_limit"]
    ).all() else RED  # fmt: skip
    return f"{light} (worst {worst['columns']}: {worst['excess']:+.3f} over its floor)"


def summary_table(inputs: ReportInputs) -> pd.DataFrame:
    """The one-screen verdict: per mode, what it promises, traffic lights that follow the
    release rules, whether it may be released, and what it keeps and loses."""
    rows = []
    for verdict in inputs.verdicts:
        mode = verdict.mode
        judged = inputs.judgements[inputs.judgements["mode"] == mode]
        ratio = min(
            metric_value(inputs.metrics, mode, "age_bracket_macro_f1_ratio")["value"],
            metric_value(inputs.metrics, mode, "long_stay_roc_auc_ratio")["value"],
        )
        utility = (
            GREEN if ratio >= GOOD_UTILITY_RATIO else AMBER if ratio >= FAIR_UTILITY_RATIO else RED
        )
        mode_gate = inputs.gate[inputs.gate["mode"] == mode]
        privacy = mode_gate[mode_gate["rule"].isin(PRIVACY_RULES)]
        failed = mode_gate.loc[~mode_gate["passed"], "rule"].tolist()
        rows.append(
            {
                "mode": mode,
                "promises": PROMISE_WORDS[verdict.promise],
                "columns": _light(judged[judged["rule"] == COLUMN_RULE]),
                "relations": _light(judged[judged["rule"] == PAIR_RULE]),
                "utility": f"{utility} ({ratio:.2f} × real-data score)",
                "privacy": GREEN if privacy["passed"].all() else RED,
                "release": PASS if not failed else f"{FAIL}: {', '.join(failed)}",
                "keeps": verdict.keeps,
                "loses": verdict.loses,
            }
        )
    return pd.DataFrame(rows)


def recommendation_sentence(recommendation: Recommendation) -> str:
    if recommendation.mode is None:
        return f"Recommended for release: none, because {recommendation.reason}."
    return f"Recommended for release: {recommendation.mode} mode, {recommendation.reason}."


def summary_markdown(inputs: ReportInputs) -> str:
    """The summary table and the recommendation, for the asset's metadata in the UI."""
    return (
        markdown_table(summary_table(inputs))
        + "\n\n"
        + recommendation_sentence(inputs.recommendation)
    )


def rules_paragraph(thresholds: GateThresholds) -> str:
    z = thresholds.standard_errors
    return (
        "How the verdict is reached. A total variation distance between two finite samples "
        "is never 0, even when both come from the same distribution, so each fidelity figure "
        "is set beside its floor: what a perfect synthesiser would score at the same sizes, "
        "measured between two independent samples of the training data's distribution (drawn "
        "with replacement), one as large as the training data and one as large as the "
        "synthetic dataset, averaged over repetitions; the excess is how much worse than the "
        "floor the figure is. A mode is judged by what it promises: random mode by its schema "
        "and domains; independent mode also by each column's distribution; correlated mode "
        "also by every pair of columns associated in the training data; every mode by the "
        "privacy rules. A distribution is kept when its distance exceeds its floor by at "
        f"most {thresholds.tolerance_1way:g} (one column) or {thresholds.tolerance_2way:g} "
        f"(a pair), plus {z:g} times the floor's spread for sampling error. The traffic "
        f"lights use the same limits: {GREEN} when every judged distribution is kept, "
        f"{AMBER} within twice the tolerance, {RED} beyond; utility is {GREEN} when models "
        f"trained on the synthetic data score at least {GOOD_UTILITY_RATIO:.0%} of models "
        f"trained on real data, {AMBER} from {FAIR_UTILITY_RATIO:.0%}; privacy is {GREEN} "
        "when the privacy rules pass. The recommended mode is the most faithful mode that "
        "passes every rule that applies to it (the lowest mean excess over the floor of its "
        "columns and associated pairs)."
    )


def sampling_paragraph(metrics: pd.DataFrame) -> str:
    """Which figures rest on samples, and how large, from the metrics table's size rows."""
    sizes = metrics[metrics["family"] == SIZE].groupby("metric")[["value", "reference"]].max()

    def count(metric: str, column: str = "value") -> str:
        return f"{int(sizes.loc[metric, column]):,}"

    return (
        "Where a figure does not need every record it uses a random sample, the same for "
        "every mode: SDMetrics' reports compare up to "
        f"{count('sdmetrics_sample', 'reference')} training records with up to "
        f"{count('sdmetrics_sample')} records of each dataset; the classifiers train on up "
        f"to {count('classifier_sample')} records and are scored on "
        f"{count('classifier_sample', 'reference')} hold-out records; distance to closest "
        f"record compares {count('distance_sample')} records of each dataset with "
        f"{count('distance_candidates')} training records, because it compares every pair. "
        "Total variation distances, mutual information, exact matches and the anonymity "
        f"figures use every record. Marginal floors average {count('floor_repetitions')} "
        f"pairs of samples, SDMetrics floors {count('floor_repetitions', 'reference')}."
    )


# --- The sections -------------------------------------------------------------------------


def _with_excess(row: pd.Series) -> str:
    return f"{row['value']:.4g} ({row['excess']:+.3f})"


def fidelity_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Each whole-table fidelity figure per mode as "value (excess over the floor)"."""
    rows = metrics[(metrics["family"] == FIDELITY) & metrics["metric"].isin(names(FIDELITY))]
    modes = synthetic_modes(metrics)
    table = []
    for metric in names(FIDELITY):
        of_metric = rows[rows["metric"] == metric].set_index("mode")
        if of_metric.empty:
            continue
        entry = {"metric": metric, "floor": of_metric["floor"].iloc[0]}
        entry |= {mode: _with_excess(of_metric.loc[mode]) for mode in modes}
        entry |= {
            f"{mode}: worst": of_metric.loc[mode, "columns"]
            for mode in modes
            if metric.endswith("_max")
        }
        table.append(entry)
    return pd.DataFrame(table).fillna("")


def judged_marginals_table(judgements: pd.DataFrame) -> pd.DataFrame:
    """Every judged column and associated pair: per mode its distance, excess over the floor
    and whether it is kept within the limit."""
    table = []
    for (rule, columns), judged in judgements.groupby(["rule", "columns"], sort=False):
        entry = {"rule": rule, "columns": columns, "floor": judged["floor"].iloc[0]}
        for row in judged.itertuples():
            entry[row.mode] = (
                f"{row.value:.3f} ({row.excess:+.3f}) {'kept' if row.kept else 'lost'}"
            )
        table.append(entry)
    return pd.DataFrame(table)


def associations_table(metrics: pd.DataFrame) -> pd.DataFrame:
    rows = metrics[metrics["family"] == ASSOCIATION].sort_values("value", ascending=False)
    return pd.DataFrame(
        {
            "columns": rows["columns"],
            "Cramér's V": rows["value"],
            "associated": (rows["value"] > rows["reference"]).map({True: "yes", False: ""}),
        }
    ).head(8)


def reference_table(metrics: pd.DataFrame, family: str, reference_name: str) -> pd.DataFrame:
    """A family's whole-table figures per mode, with the real-data reference beside them."""
    rows = metrics[metrics["family"] == family]
    value = rows.pivot_table(index="metric", columns="mode", values="value", sort=False)
    reference = rows.groupby("metric", sort=False)["reference"].first()
    order = [m for m in names(family) if m in value.index]
    table = value.reindex(order)[[m for m in synthetic_modes(metrics) if m in value.columns]]
    return table.assign(**{reference_name: reference.reindex(order)}).reset_index()


def build_document(
    inputs: ReportInputs, figures: Mapping[str, Figure], histograms: Mapping[str, list[Figure]]
) -> Document:
    metrics, thresholds = inputs.metrics, inputs.thresholds
    document = Document()
    document.heading(1, "aesynth evaluation report")
    document.paragraph(AUDIENCE)
    document.paragraph(" · ".join(f"{name}: {value}" for name, value in inputs.facts.items()))
    document.heading(2, "Summary")
    document.table(summary_table(inputs))
    document.paragraph(recommendation_sentence(inputs.recommendation))
    failed = inputs.gate[~inputs.gate["passed"]]
    if failed.empty:
        document.paragraph("Release gate: every mode passes every rule that applies to it.")
    else:
        lines = [f"{row.mode} mode breaks {row.rule} ({row.reason})" for row in failed.itertuples()]
        document.paragraph("Release gate: " + "; ".join(lines) + ".")
    document.paragraph(rules_paragraph(thresholds))
    document.paragraph(EPSILON_EXPLANATION)
    document.paragraph(sampling_paragraph(metrics))

    document.heading(2, "Release gate")
    document.table(inputs.gate.assign(passed=inputs.gate["passed"].map({True: PASS, False: FAIL})))
    document.table(
        pd.DataFrame({"rule": list(RULES), "meaning": [r.description for r in RULES.values()]})
    )

    document.heading(2, "Privacy ledger: what each description cost")
    document.paragraph(
        "Each mode's description is all its synthetic data is generated from, so what it cost "
        "is what the synthetic data cost. The totals, then every noisy release behind them."
    )
    document.table(ledger.totals_table(inputs.ledgers))
    document.table(ledger.charges_table(inputs.ledgers))

    document.heading(2, "Fidelity: how closely the synthetic data resembles the training data")
    pairs = associated_pairs(metrics)
    document.paragraph(
        f"Pairs of columns associated in the training data (Cramér's V above "
        f"{metrics.loc[metrics['family'] == ASSOCIATION, 'reference'].iloc[0]:g}): "
        + (", ".join(pairs) if pairs else "none")
        + ". The strongest pairs:"
    )
    document.table(associations_table(metrics))
    document.paragraph(
        "The distributions the release rules judge: each column, and each associated pair. "
        "Each cell: total variation distance (excess over the floor) and whether it is kept."
    )
    document.table(judged_marginals_table(inputs.judgements))
    document.paragraph(
        "Every fidelity figure per mode, as value (excess over the floor); the floor is what "
        "a perfect synthesiser scores at the same sizes. The all-pairs 2-way mean is kept for "
        "comparison: where most pairs are unrelated it is mostly sampling noise."
    )
    document.table(fidelity_table(metrics))
    document.figure(figures["marginal_distances"])
    for name, figure in figures.items():
        if name.startswith("mutual_information_"):
            document.figure(figure)

    document.heading(2, "Utility: how useful the synthetic data is for training a model")
    document.table(reference_table(metrics, UTILITY, "real-trained (reference)"))
    document.figure(figures["utility"])

    document.heading(2, "Privacy of the synthetic data")
    document.table(reference_table(metrics, PRIVACY, "hold-out (reference)"))

    document.heading(2, "Privacy of the de-identified data itself")
    document.paragraph(
        "Before any synthesis: how easily a record of the de-identified dataset stands out by "
        "its quasi-identifiers (Gender, Age bracket, IMD decile, Hospital ID, Arrival hour "
        "range; then with Arrival Date as well). Its own asset, deidentified_disclosure_risk."
    )
    document.table(
        inputs.disclosure.pivot(
            index="metric", columns="quasi_identifiers", values="value"
        ).reset_index()
    )

    document.heading(2, "What each figure means")
    document.table(
        pd.DataFrame(
            {"metric": list(METRICS), "meaning": [m.explanation for m in METRICS.values()]}
        )
    )

    document.heading(2, "Every metric")
    document.paragraph(
        "The data behind everything above, also saved as the evaluation_report Parquet file: "
        "value, floor (a perfect synthesiser at the same sizes), its spread, the excess over "
        "it, and the reference from real data where there is one."
    )
    document.table(metrics)

    document.heading(2, "Every attribute, training data against synthetic")
    for mode, mode_figures in histograms.items():
        document.details(f"{mode} mode: {len(mode_figures)} histograms", mode_figures)
    return document
