"""The evaluation report for people: one document, rendered as Markdown and as one
self-contained HTML file, built from the tidy metrics table and the release gate."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

import pandas as pd

from aesynth_pipeline.domain.evaluate import (
    DEIDENTIFIED_MODE,
    FIDELITY,
    GATE_RULES,
    METRIC_EXPLANATIONS,
    PRIVACY,
    SIZE,
    UTILITY,
    GateThresholds,
    metric_value,
)

GREEN, AMBER, RED = "good", "fair", "poor"
PASS, FAIL = "pass", "fail"
# Verdict words lead their cell; Markdown marks them with a symbol, HTML with a colour.
_MARKDOWN_MARKS = {GREEN: "🟢", AMBER: "🟠", RED: "🔴", PASS: "✅", FAIL: "❌"}
GOOD_UTILITY_RATIO, FAIR_UTILITY_RATIO = 0.9, 0.7
SUMMARY_METRICS = {
    FIDELITY: ["quality_score", "column_shapes", "column_pair_trends",
               "column_pair_trends_all_pairs", "tvd_1way_mean", "tvd_1way_max", "tvd_2way_mean",
               "tvd_2way_max", "tvd_3way_mean", "tvd_3way_max", "nmi_mean_abs_difference",
               "table_structure"],
    UTILITY: ["age_bracket_macro_f1", "age_bracket_macro_f1_ratio", "long_stay_roc_auc",
              "long_stay_roc_auc_ratio"],
    PRIVACY: ["exact_match_rate", "dcr_median", "dcr_closer_to_training_share",
              "unique_combination_reappearance"],
}  # fmt: skip
EPSILON_EXPLANATION = (
    "ε (epsilon) is the differential-privacy budget of the independent and correlated modes: "
    "the smaller ε, the more random noise is added while learning from the data, so the "
    "synthetic data reveals less about any one patient and also resembles the data less; "
    "ε = 0 turns the noise off."
)


@dataclass(frozen=True)
class Figure:
    name: str
    caption: str
    png: bytes


@dataclass
class Document:
    """Blocks in reading order: ("h", level, text), ("p", text), ("table", frame),
    ("figure", Figure) and ("details", summary, [Figure])."""

    blocks: list[tuple] = field(default_factory=list)

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def paragraph(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, frame: pd.DataFrame) -> None:
        self.blocks.append(("table", frame))

    def figure(self, figure: Figure) -> None:
        self.blocks.append(("figure", figure))

    def details(self, summary: str, figures: list[Figure]) -> None:
        self.blocks.append(("details", summary, figures))

    def figures(self) -> list[Figure]:
        found = []
        for block in self.blocks:
            if block[0] == "figure":
                found.append(block[1])
            elif block[0] == "details":
                found.extend(block[2])
        return found


def summary_table(
    metrics: pd.DataFrame, gate: pd.DataFrame, thresholds: GateThresholds
) -> pd.DataFrame:
    """The one-screen verdict: a traffic light per mode and family, and the release gate."""
    rows = []
    for mode in [m for m in metrics["mode"].unique() if m != DEIDENTIFIED_MODE]:
        distance, holdout_distance = metric_value(metrics, mode, "tvd_2way_mean")
        limit = thresholds.max_tvd_2way_correlated
        fidelity = GREEN if distance <= limit else AMBER if distance <= 2 * limit else RED
        ratio = min(
            metric_value(metrics, mode, "age_bracket_macro_f1_ratio")[0],
            metric_value(metrics, mode, "long_stay_roc_auc_ratio")[0],
        )
        utility = (
            GREEN if ratio >= GOOD_UTILITY_RATIO else AMBER if ratio >= FAIR_UTILITY_RATIO else RED
        )
        mode_gate = gate[gate["mode"] == mode]
        privacy_rules = mode_gate[mode_gate["rule"] != "fidelity"]
        failed = mode_gate.loc[~mode_gate["passed"], "rule"].tolist()
        rows.append(
            {
                "mode": mode,
                "fidelity": f"{fidelity} (2-way TVD {distance:.3f}; "
                f"hold-out {holdout_distance:.3f})",
                "utility": f"{utility} ({ratio:.2f} × real-data score)",
                "privacy": GREEN if privacy_rules["passed"].all() else RED,
                "release gate": PASS if not failed else f"{FAIL}: {', '.join(failed)}",
            }
        )
    return pd.DataFrame(rows)


def build_document(
    metrics: pd.DataFrame,
    gate: pd.DataFrame,
    thresholds: GateThresholds,
    facts: dict[str, object],
    figures: dict[str, Figure],
    histograms: dict[str, list[Figure]],
) -> Document:
    document = Document()
    document.heading(1, "aesynth evaluation report")
    document.paragraph(" · ".join(f"{name}: {value}" for name, value in facts.items()))
    document.heading(2, "Summary")
    document.table(summary_table(metrics, gate, thresholds))
    failed = gate[~gate["passed"]]
    if failed.empty:
        document.paragraph("Release gate: every mode passes every rule.")
    else:
        verdicts = [f"{row.mode} mode breaks '{row.rule}' ({row.value:.4f} > {row.limit:.4f})"
                    for row in failed.itertuples()]  # fmt: skip
        document.paragraph("Release gate: " + "; ".join(verdicts) + ".")
    document.paragraph(
        f"Fidelity is {GREEN} when the mean 2-way total variation distance is at "
        f"most {thresholds.max_tvd_2way_correlated}, {AMBER} up to twice that; "
        f"utility is {GREEN} when models trained on the synthetic data score at "
        f"least {GOOD_UTILITY_RATIO:.0%} of models trained on real data, {AMBER} from "
        f"{FAIR_UTILITY_RATIO:.0%}; privacy is {GREEN} when the privacy rules of the "
        "release gate pass. Every figure is compared with the same figure for the real "
        "hold-out, records the synthesiser never saw. The hold-out is smaller than each "
        "synthetic dataset, so its distances carry more sampling noise: read them as the "
        "distance at which a dataset is as close as fresh real data of that size."
    )
    document.paragraph(EPSILON_EXPLANATION)
    document.paragraph(sampling_paragraph(metrics))

    document.heading(2, "Fidelity: how closely the synthetic data resembles the training data")
    document.table(_family_table(metrics, FIDELITY))
    document.figure(figures["marginal_distances"])
    for name, figure in figures.items():
        if name.startswith("mutual_information_"):
            document.figure(figure)

    document.heading(2, "Utility: how useful the synthetic data is for training a model")
    document.table(_family_table(metrics, UTILITY))
    document.figure(figures["utility"])

    document.heading(2, "Privacy of the synthetic data")
    document.table(_family_table(metrics, PRIVACY))

    document.heading(2, "Privacy of the de-identified data itself")
    document.paragraph(
        "Before any synthesis: how easily a record of the de-identified dataset (training and "
        "hold-out together) stands out by its quasi-identifiers (Gender, Age bracket, IMD "
        "decile, Hospital ID, Arrival hour range; then with Arrival Date as well)."
    )
    own = metrics[metrics["mode"] == DEIDENTIFIED_MODE].pivot(
        index="metric", columns="columns", values="value"
    )
    document.table(own.reset_index())

    document.heading(2, "Release gate")
    document.table(
        gate.assign(
            rule=gate["rule"].map(lambda r: f"{r}: {GATE_RULES[r]}"),
            passed=gate["passed"].map({True: PASS, False: FAIL}),
        )
    )

    document.heading(2, "What each figure means")
    document.table(
        pd.DataFrame(
            {"metric": list(METRIC_EXPLANATIONS), "meaning": list(METRIC_EXPLANATIONS.values())}
        )
    )

    document.heading(2, "Every metric")
    document.paragraph(
        "The data behind everything above, also saved as the evaluation_report Parquet file: "
        "value for the synthetic data, reference for the real hold-out on the same test."
    )
    document.table(metrics)

    document.heading(2, "Every attribute, de-identified against synthetic")
    for mode, mode_figures in histograms.items():
        document.details(f"{mode} mode: {len(mode_figures)} histograms", mode_figures)
    return document


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
        "figures use every record."
    )


def _family_table(metrics: pd.DataFrame, family: str) -> pd.DataFrame:
    rows = metrics[metrics["metric"].isin(SUMMARY_METRICS[family])]
    value = rows.pivot(index="metric", columns="mode", values="value")
    reference = rows.groupby("metric")["reference"].first()
    table = value.reindex(SUMMARY_METRICS[family])[
        [m for m in metrics["mode"].unique() if m in value.columns]
    ]
    return table.assign(**{"hold-out (reference)": reference}).reset_index()


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:.4g}"
    return str(value)


def _verdict(text: str) -> str | None:
    """The verdict word a cell starts with, if any."""
    first = text.split(" ", 1)[0].rstrip(":")
    return first if first in _MARKDOWN_MARKS else None


def _markdown_cell(value: object) -> str:
    text = _cell(value)
    verdict = _verdict(text)
    return f"{_MARKDOWN_MARKS[verdict]} {text}" if verdict else text


def _html_cell(value: object) -> str:
    text = _cell(value)
    verdict = _verdict(text)
    if verdict:
        return f'<td class="verdict {verdict}">{html.escape(text)}</td>'
    return f"<td>{html.escape(text)}</td>"


def render_markdown(document: Document, figure_folder: str) -> str:
    """Markdown that links its figures as PNG files in `figure_folder` (relative)."""
    lines: list[str] = []
    for block in document.blocks:
        kind = block[0]
        if kind == "h":
            lines += ["#" * block[1] + " " + block[2], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "table":
            lines += [markdown_table(block[1]), ""]
        elif kind == "figure":
            lines += [f"![{block[1].caption}]({figure_folder}/{block[1].name}.png)", ""]
        elif kind == "details":
            lines += [f"**{block[1]}**", ""]
            lines += [f"![{f.caption}]({figure_folder}/{f.name}.png)" for f in block[2]]
            lines.append("")
    return "\n".join(lines)


def markdown_table(frame: pd.DataFrame) -> str:
    """A Markdown table; Dagster's web UI renders these in metadata."""

    def row(values) -> str:
        return "| " + " | ".join(_markdown_cell(v).replace("|", "\\|") for v in values) + " |"

    lines = [row(frame.columns), row("---" for _ in frame.columns)]
    lines += [row(values) for values in frame.itertuples(index=False)]
    return "\n".join(lines)


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #1d2330; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #d0d4dc; padding: 0.3em 0.6em; text-align: left; }
th { background: #eef1f6; }
img { max-width: 100%; }
figure { margin: 1.5em 0; }
figcaption { color: #5b6375; font-size: 0.9em; }
details { margin: 0.5em 0; }
td.verdict::before { content: ""; display: inline-block; width: 0.8em; height: 0.8em;
                     border-radius: 50%; margin-right: 0.4em; vertical-align: -0.05em; }
td.good::before, td.pass::before { background: #2e9d4f; }
td.fair::before { background: #e89a1c; }
td.poor::before, td.fail::before { background: #d2372c; }
"""


def render_html(document: Document) -> str:
    """One self-contained HTML page: styles inline, every figure embedded."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>aesynth evaluation report</title>", f"<style>{_STYLE}</style>",
             "</head><body>"]  # fmt: skip
    for block in document.blocks:
        kind = block[0]
        if kind == "h":
            parts.append(f"<h{block[1]}>{html.escape(block[2])}</h{block[1]}>")
        elif kind == "p":
            parts.append(f"<p>{html.escape(block[1])}</p>")
        elif kind == "table":
            parts.append(_html_table(block[1]))
        elif kind == "figure":
            parts.append(_html_figure(block[1]))
        elif kind == "details":
            inner = "".join(_html_figure(f) for f in block[2])
            parts.append(f"<details><summary>{html.escape(block[1])}</summary>{inner}</details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_table(frame: pd.DataFrame) -> str:
    header = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(_html_cell(v) for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _html_figure(figure: Figure) -> str:
    encoded = base64.b64encode(figure.png).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(figure.caption)}" '
        f'src="data:image/png;base64,{encoded}"><figcaption>{html.escape(figure.caption)}'
        "</figcaption></figure>"
    )


def summary_markdown(metrics: pd.DataFrame, gate: pd.DataFrame, thresholds: GateThresholds) -> str:
    """The summary table alone, for the asset's metadata in the UI."""
    return markdown_table(summary_table(metrics, gate, thresholds))
