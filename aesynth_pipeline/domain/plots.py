"""Plots that compare a synthetic dataset with the training data, as PNG bytes.

They show only de-identified attributes (categories, bands and pseudonyms), never a raw
value. Figures are drawn without pyplot's global state, so plotting is safe anywhere.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from aesynth_pipeline.columns import TIME_IN_AE
from aesynth_pipeline.domain.metrics import TRAINING_MODE

REAL_LABEL = "training data (de-identified)"
_DPI = 90
COLOURS = ("tab:blue", "tab:orange")


def histogram_comparison(real: pd.Series, synthetic: pd.Series, mode: str) -> bytes:
    """Side-by-side distributions of one attribute: training data left, synthetic right."""
    figure = Figure(figsize=(12, 4.5), dpi=_DPI)
    left, right = figure.subplots(1, 2, sharey=True)
    if real.name == TIME_IN_AE:
        low = int(min(real.min(), synthetic.min()))
        high = int(max(real.max(), synthetic.max()))
        # Whole-minute bins of equal width, so no bin holds more possible values than another.
        width = max(1, -(-(high + 1 - low) // 30))
        bins = np.arange(low, high + width + 1, width)
        left.hist(real, bins=bins, density=True, color="tab:blue")
        right.hist(synthetic, bins=bins, density=True, color="tab:orange")
        for axes in (left, right):
            axes.set_xlabel("minutes")
        left.set_ylabel("share of records per minute")
    else:
        shares = [values.value_counts(normalize=True) for values in (real, synthetic)]
        categories = sorted(shares[0].index.union(shares[1].index), key=_natural_order)
        positions = np.arange(len(categories))
        for axes, share, colour in zip((left, right), shares, COLOURS, strict=True):
            axes.bar(positions, share.reindex(categories, fill_value=0).to_numpy(), color=colour)
            axes.set_xticks(positions, [str(c) for c in categories], rotation=90, fontsize=7)
        left.set_ylabel("share of records")
    left.set_title(REAL_LABEL)
    right.set_title(f"synthetic, {mode} mode")
    figure.suptitle(str(real.name))
    figure.tight_layout()
    return _png(figure)


def mutual_information_heatmaps(real: pd.DataFrame, synthetic: pd.DataFrame, mode: str) -> bytes:
    """Pairwise normalised mutual information, training data left, synthetic right (0 to 1)."""
    figure = Figure(figsize=(13, 6.5), dpi=_DPI, layout="constrained")
    axes_pair = figure.subplots(1, 2)
    labels = [_short(name) for name in real.columns]
    for axes, matrix, title in (
        (axes_pair[0], real, REAL_LABEL),
        (axes_pair[1], synthetic, f"synthetic, {mode} mode"),
    ):
        image = axes.imshow(matrix.to_numpy(), cmap="Blues", vmin=0, vmax=1)
        axes.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
        # Both panels share the order of attributes, so only the left one names the rows.
        axes.set_yticks(range(len(labels)), labels if axes is axes_pair[0] else [], fontsize=8)
        for (row, column), value in np.ndenumerate(matrix.to_numpy()):
            axes.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=7,
                      color="white" if value > 0.6 else "black")  # fmt: skip
        axes.set_title(title)
    figure.colorbar(image, ax=axes_pair, shrink=0.8, label="normalised mutual information")
    figure.suptitle("Pairwise mutual information")
    return _png(figure)


def _natural_order(value: object) -> tuple[int, float, str]:
    """Numbers and bands ("0-17", "85-") by their leading number, then text alphabetically."""
    text = str(value)
    leading = text.split("-")[0]
    return (0, float(leading), text) if leading.isdigit() else (1, 0.0, text)


def _short(name: str) -> str:
    return name.replace("Index of Multiple Deprivation", "IMD")


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


MARGINAL_GROUPS = {
    "tvd_1way_mean": "1-way",
    "tvd_2way_associated_mean": "2-way, associated pairs",
    "tvd_2way_mean": "2-way, every pair",
    "tvd_3way_mean": "3-way",
}


def marginal_distance_chart(metrics: pd.DataFrame) -> bytes:
    """Mean total variation distance of 1-, 2- and 3-way marginals per mode, with each
    figure's floor (what a perfect synthesiser scores at the same sizes) marked on its bar."""
    figure = Figure(figsize=(10, 4.5), dpi=_DPI, layout="constrained")
    axes = figure.subplots()
    groups = [g for g in MARGINAL_GROUPS if g in set(metrics["metric"])]
    modes = [m for m in metrics["mode"].unique() if m != TRAINING_MODE]
    width = 0.8 / len(modes)
    for i, mode in enumerate(modes):
        rows = metrics[metrics["mode"] == mode].set_index("metric").loc[groups]
        positions = np.arange(len(groups)) + i * width
        axes.bar(positions, rows["value"], width, label=f"{mode} mode")
        axes.scatter(positions, rows["floor"], color="black", marker="_", s=300, zorder=3,
                     label="floor (a perfect synthesiser)" if i == 0 else None)  # fmt: skip
    axes.set_xticks(
        np.arange(len(groups)) + width * (len(modes) - 1) / 2, [MARGINAL_GROUPS[g] for g in groups]
    )
    axes.set_ylabel("mean total variation distance (lower is closer)")
    axes.set_title("How far each synthetic dataset is from the training data")
    axes.legend()
    return _png(figure)


def utility_chart(metrics: pd.DataFrame) -> bytes:
    """Synthetic-trained over real-trained classifier scores per mode (1 = as useful)."""
    figure = Figure(figsize=(9, 4.5), dpi=_DPI, layout="constrained")
    axes = figure.subplots()
    ratios = metrics[metrics["metric"].str.endswith("_ratio")]
    tasks = list(ratios["metric"].unique())
    modes = list(ratios["mode"].unique())
    width = 0.8 / len(modes)
    for i, mode in enumerate(modes):
        values = ratios[ratios["mode"] == mode].set_index("metric").loc[tasks, "value"]
        axes.bar(np.arange(len(tasks)) + i * width, values, width, label=f"{mode} mode")
    axes.axhline(1.0, color="black", linewidth=1, label="as useful as real data")
    labels = {"age_bracket_macro_f1_ratio": "predict age bracket (macro F1)",
              "long_stay_roc_auc_ratio": "predict a long stay (ROC AUC)"}  # fmt: skip
    axes.set_xticks(
        np.arange(len(tasks)) + width * (len(modes) - 1) / 2, [labels.get(t, t) for t in tasks]
    )
    axes.set_ylabel("synthetic-trained / real-trained score")
    axes.set_title("How useful each synthetic dataset is for training a model")
    axes.legend()
    return _png(figure)
