"""Plots that compare a synthetic dataset with the training data, as PNG bytes.

They show only de-identified attributes (categories, bands and pseudonyms), never a raw
value. Figures are drawn without pyplot's global state, so plotting is safe anywhere.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.image import imsave

from aesynth_pipeline.columns import TIME_IN_AE
from aesynth_pipeline.domain.metrics import TRAINING_MODE

REAL_LABEL = "training data (de-identified)"
_DPI = 90
COLOURS = ("tab:blue", "tab:orange")
# zlib's fastest level: the report's 29 charts take 0.27 s to write instead of 0.42 s at
# Pillow's default (6), and 4% more bytes.
_PNG_OPTIONS = {"compress_level": 1}


def histogram_comparisons(
    real: pd.Series, synthetic_by_mode: Mapping[str, pd.Series]
) -> dict[str, bytes]:
    """Side-by-side distributions of one attribute, training data left and each mode's
    synthetic data right, as PNG bytes per mode.

    Modes whose x axis is the same (the categories, or whole-minute bins, of the training
    data and the mode's data) share one figure, whose training half, axes and layout are
    drawn once: only the synthetic bars' heights change from one mode to the next, so such
    modes also share the y axis.
    """
    groups: dict[tuple, dict[str, np.ndarray]] = {}
    if real.name == TIME_IN_AE:
        for mode, values in synthetic_by_mode.items():
            bins = _minute_bins(real, values)
            groups.setdefault(tuple(bins), {})[mode] = _densities(values, bins)
    else:
        real_shares = real.value_counts(normalize=True)
        for mode, values in synthetic_by_mode.items():
            shares = values.value_counts(normalize=True)
            categories = sorted(real_shares.index.union(shares.index), key=_natural_order)
            heights = shares.reindex(categories, fill_value=0).to_numpy()
            groups.setdefault(tuple(categories), {})[mode] = heights
    pictures = {}
    for axis, heights in groups.items():
        if real.name == TIME_IN_AE:
            bins = np.array(axis)
            training = _densities(real, bins)
        else:
            training = real_shares.reindex(list(axis), fill_value=0).to_numpy()
        pictures |= _comparison(str(real.name), axis, training, heights)
    return {mode: pictures[mode] for mode in synthetic_by_mode}


def _minute_bins(real: pd.Series, synthetic: pd.Series) -> np.ndarray:
    """Whole-minute bins of equal width over both datasets' range, so no bin holds more
    possible values than another."""
    low = int(min(real.min(), synthetic.min()))
    high = int(max(real.max(), synthetic.max()))
    width = max(1, -(-(high + 1 - low) // 30))
    return np.arange(low, high + width + 1, width)


def _densities(values: pd.Series, bins: np.ndarray) -> np.ndarray:
    return np.histogram(values, bins=bins, density=True)[0]


def _comparison(
    name: str, axis: tuple, training: np.ndarray, by_mode: Mapping[str, np.ndarray]
) -> dict[str, bytes]:
    """One figure for every mode of `by_mode`: the training bars left, each mode's right.
    `axis` holds the bins' edges for time in A&E, the categories otherwise."""
    figure = _figure((12, 4.5), layout=None)
    left, right = figure.subplots(1, 2, sharey=True)
    _fit_histogram(figure, None if name == TIME_IN_AE else [str(c) for c in axis])
    if name == TIME_IN_AE:
        edges = np.array(axis, dtype=float)
        starts, widths = edges[:-1], np.diff(edges)
        for axes in (left, right):
            axes.set_xlabel("minutes")
        left.set_ylabel("share of records per minute")
    else:
        positions = np.arange(len(axis))
        starts, widths = positions - 0.4, np.full(len(axis), 0.8)
        for axes in (left, right):
            axes.set_xticks(positions, [str(c) for c in axis], rotation=90, fontsize=7)
        left.set_ylabel("share of records")
    _bars(left, starts, widths, training, COLOURS[0])
    bars = _bars(right, starts, widths, training, COLOURS[1])
    tallest = max(float(h.max(initial=0)) for h in (training, *by_mode.values()))
    left.set_ylim(0, 1.05 * tallest or 1)
    left.set_title(REAL_LABEL)
    right.set_title("synthetic")
    figure.suptitle(name)

    def show(mode: str) -> None:
        bars.set_verts(_bar_outlines(starts, widths, by_mode[mode]))
        right.set_title(f"synthetic, {mode} mode")

    return _pictures(figure, right, [bars, right.title], by_mode, show)


def _bars(
    axes: Axes, starts: np.ndarray, widths: np.ndarray, heights: np.ndarray, colour: str
) -> PolyCollection:
    """Bars from 0 as one collection rather than one patch each (as `Axes.bar` draws them):
    a figure of 39 bars a side is drawn in half the time."""
    bars = PolyCollection(
        _bar_outlines(starts, widths, heights), facecolors=colour, edgecolors="none"
    )
    axes.add_collection(bars)
    axes.autoscale_view()
    return bars


def _bar_outlines(starts: np.ndarray, widths: np.ndarray, heights: np.ndarray) -> np.ndarray:
    ends, zeros = starts + widths, np.zeros(len(heights))
    corners = [(starts, zeros), (starts, heights), (ends, heights), (ends, zeros)]
    return np.stack([np.column_stack(corner) for corner in corners], axis=1)


def mutual_information_heatmaps(
    real: pd.DataFrame, synthetic_by_mode: Mapping[str, pd.DataFrame]
) -> dict[str, bytes]:
    """Pairwise normalised mutual information, training data left and each mode's synthetic
    data right (0 to 1), as PNG bytes per mode: one figure, its right half redrawn per mode."""
    figure = _figure((13, 6.5))
    axes_pair = figure.subplots(1, 2)
    labels = [_short(name) for name in real.columns]
    cells = {}
    for axes, title in ((axes_pair[0], REAL_LABEL), (axes_pair[1], "synthetic")):
        image = axes.imshow(real.to_numpy(), cmap="Blues", vmin=0, vmax=1)
        axes.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
        # Both panels share the order of attributes, so only the left one names the rows.
        axes.set_yticks(range(len(labels)), labels if axes is axes_pair[0] else [], fontsize=8)
        cells[axes] = [
            _annotated(axes, row, column, value)
            for (row, column), value in np.ndenumerate(real.to_numpy())
        ]
        axes.set_title(title)
    figure.colorbar(image, ax=axes_pair, shrink=0.8, label="normalised mutual information")
    figure.suptitle("Pairwise mutual information")
    right = axes_pair[1]

    def show(mode: str) -> None:
        values = synthetic_by_mode[mode].to_numpy()
        image.set_data(values)
        for text, value in zip(cells[right], values.ravel(), strict=True):
            text.set_text(f"{value:.2f}")
            text.set_color(_text_colour(value))
        right.set_title(f"synthetic, {mode} mode")

    return _pictures(figure, right, [image, *cells[right], right.title], synthetic_by_mode, show)


def _annotated(axes, row: int, column: int, value: float):
    return axes.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=7,
                     color=_text_colour(value))  # fmt: skip


def _text_colour(value: float) -> str:
    return "white" if value > 0.6 else "black"


def _natural_order(value: object) -> tuple[int, float, str]:
    """Numbers and bands ("0-17", "85-") by their leading number, then text alphabetically."""
    text = str(value)
    leading = text.split("-")[0]
    return (0, float(leading), text) if leading.isdigit() else (1, 0.0, text)


def _short(name: str) -> str:
    return name.replace("Index of Multiple Deprivation", "IMD")


def _figure(size: tuple[float, float], layout: str | None = "constrained") -> Figure:
    """A figure on its own Agg canvas: saving it again reuses the canvas's renderer, and with
    it the sizes of every text already measured."""
    figure = Figure(figsize=size, dpi=_DPI, layout=layout)
    FigureCanvasAgg(figure)
    return figure


def _fit_histogram(figure: Figure, categories: list[str] | None) -> None:
    """Margins for a histogram's two panels, set rather than found by a layout engine (which
    measures every label again for each figure, more than drawing it costs): room at left
    for the y axis's numbers and label, at the top for the titles, and below for the x
    axis's numbers and label or for the categories' names, written upright, the longest
    measured."""
    width, height = figure.get_size_inches()
    below = 0.6
    if categories:
        renderer, font = figure.canvas.get_renderer(), FontProperties(size=7)
        longest = max(
            renderer.get_text_width_height_descent(name, font, ismath=False)[0]
            for name in categories
        )
        below = longest / figure.dpi + 0.25  # the ticks, their padding and the edge
    figure.subplots_adjust(
        left=0.85 / width,
        right=1 - 0.15 / width,
        top=1 - 0.65 / height,
        bottom=min(below / height, 0.7),
        wspace=0.04,
    )


def _pictures(
    figure: Figure,
    axes: Axes,
    changing: list[Artist],
    modes: Iterable[str],
    show: Callable[[str], None],
) -> dict[str, bytes]:
    """PNG bytes of `figure` for each mode, of which only the `changing` artists (in `axes`)
    differ: everything else is laid out and drawn once, and for each mode `show(mode)`
    updates the changing artists, which are drawn on a copy of the rest, under the axes'
    spines as in a full drawing."""
    _settle_layout(figure)
    for artist in changing:
        artist.set_animated(True)  # left out of the figure's own drawing
    canvas = figure.canvas
    canvas.draw()
    rest = canvas.copy_from_bbox(figure.bbox)
    pictures = {}
    for mode in modes:
        show(mode)
        canvas.restore_region(rest)
        for artist in [*changing, *axes.spines.values()]:
            figure.draw_artist(artist)
        buffer = io.BytesIO()
        imsave(
            buffer,
            np.asarray(canvas.buffer_rgba()),
            format="png",
            dpi=figure.dpi,
            pil_kwargs=_PNG_OPTIONS,
        )
        pictures[mode] = buffer.getvalue()
    return pictures


def _settle_layout(figure: Figure) -> None:
    """Lay the figure out once and keep that layout. With a layout engine, every save lays
    the figure out twice and draws it twice; its labels do not change from mode to mode,
    so neither does their layout."""
    if figure.get_layout_engine() is not None:
        figure.get_layout_engine().execute(figure)
        figure.set_layout_engine(None)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", pil_kwargs=_PNG_OPTIONS)
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
    figure = _figure((10, 4.5))
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
    _settle_layout(figure)
    return _png(figure)


def utility_chart(metrics: pd.DataFrame) -> bytes:
    """Synthetic-trained over real-trained classifier scores per mode (1 = as useful)."""
    figure = _figure((9, 4.5))
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
    _settle_layout(figure)
    return _png(figure)
