"""How closely a synthetic dataset resembles the training data, and what a perfect
synthesiser would score on the same comparison: the floor.

A figure such as a total variation distance is never 0 between two finite samples, even
of the same distribution, so it is judged against its floor: the same figure between two
independent samples of the training data's distribution (each drawn with replacement from
the training data), one as large as the training data and one as large as the synthetic
dataset, averaged over seeded repetitions. Comparing a resample with the training data
itself would share rows and underestimate the floor.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from aesynth_pipeline.columns import DEIDENTIFIED_COLUMNS, TIME_IN_AE
from aesynth_pipeline.domain import information
from aesynth_pipeline.domain.encoding import (
    Combination,
    CountingPlan,
    block_keys,
    counting_plan,
    marginal_counts,
)
from aesynth_pipeline.domain.metrics import METRICS, TRAINING_MODE, join_columns, metric_row

# Pairs of columns whose bias-corrected Cramér's V in the training data is above this count
# as associated: the relations a mode that keeps relations must reproduce.
DEFAULT_ASSOCIATION_THRESHOLD = 0.1
# Repetitions behind each floor: marginals are counted in milliseconds, SDMetrics' figures
# in a few hundredths of a second each.
MARGINAL_FLOOR_REPETITIONS = 10
SDMETRICS_FLOOR_REPETITIONS = 3
# SDMetrics' figures compare samples of at most this many records of each dataset (their
# floors too): the default run's 7,918 are all used; at 50,000 a report took 0.25 s, six of
# them (three modes, three floors) 1.5 s of a million-row run. At most SDMetrics' own
# subsampling threshold (50,000), so that its pair scores use every record given.
SDMETRICS_SAMPLE_ROWS = 10_000

# (metric, columns) -> value; `columns` is "" for a figure of the whole table.
Figures = dict[tuple[str, str], float]
# For each "worst" figure, the column or combination it belongs to.
Worst = dict[str, str]


@dataclass(frozen=True)
class Marginals:
    """One dataset's marginal distributions and pairwise mutual information."""

    shares: dict[Combination, np.ndarray]  # every 1-, 2- and 3-way marginal
    information: pd.DataFrame  # pairwise normalised mutual information


def marginals(codes: np.ndarray, sizes: Sequence[int]) -> Marginals:
    plan = counting_plan(sizes)
    return counted_marginals(marginal_counts(block_keys(codes, plan), plan), len(codes))


def counted_marginals(counts: dict[Combination, np.ndarray], rows: int) -> Marginals:
    """The marginals of `rows` records from their `encoding.marginal_counts`."""
    shares = {combination: n / max(rows, 1) for combination, n in counts.items()}
    return Marginals(shares=shares, information=information_matrix(shares))


def information_matrix(shares: dict[Combination, np.ndarray]) -> pd.DataFrame:
    """Pairwise normalised mutual information (0 = independent, 1 = one determines the
    other) from the 2-way marginals."""
    matrix = np.eye(len(DEIDENTIFIED_COLUMNS))
    for combination, joint in shares.items():
        if len(combination) == 2:
            first, second = (DEIDENTIFIED_COLUMNS.index(name) for name in combination)
            score = information.normalised_mutual_information(joint)
            matrix[first, second] = matrix[second, first] = score
    return pd.DataFrame(matrix, index=DEIDENTIFIED_COLUMNS, columns=DEIDENTIFIED_COLUMNS)


def total_variation_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Half the summed absolute difference of two distributions over the same cells."""
    return float(0.5 * np.abs(first - second).sum())


def cramers_v(joint: np.ndarray, rows: int) -> float:
    """Cramér's V of a two-way table of shares over `rows` records, with Bergsma's
    small-sample bias correction.

    Written here because scipy's `association` has no bias correction, and without it two
    unrelated many-valued columns (39 treatments × 26 hospitals on 8,000 records) score
    about 0.07 from sampling noise alone.
    """
    first, second = joint.sum(axis=1), joint.sum(axis=0)
    expected = np.outer(first, second)
    seen = expected > 0
    phi_squared = float(((joint - expected)[seen] ** 2 / expected[seen]).sum())
    r, k = int(np.count_nonzero(first)), int(np.count_nonzero(second))
    if rows < 2 or min(r, k) < 2:
        return 0.0
    corrected = max(0.0, phi_squared - (k - 1) * (r - 1) / (rows - 1))
    r_corrected = r - (r - 1) ** 2 / (rows - 1)
    k_corrected = k - (k - 1) ** 2 / (rows - 1)
    denominator = min(k_corrected - 1, r_corrected - 1)
    return float(np.sqrt(corrected / denominator)) if denominator > 0 else 0.0


def associations(training: Marginals, rows: int) -> dict[Combination, float]:
    """Bias-corrected Cramér's V of every pair of columns in the training data."""
    return {
        combination: cramers_v(joint, rows)
        for combination, joint in training.shares.items()
        if len(combination) == 2
    }


def marginal_figures(
    reference: Marginals, other: Marginals, associated: Sequence[Combination]
) -> tuple[Figures, Worst]:
    """Total variation distances of every marginal and the mutual-information gap between
    `other` and `reference`, with the worst column, pair and triple named."""
    distances = {
        combination: total_variation_distance(share, other.shares[combination])
        for combination, share in reference.shares.items()
    }
    figures: Figures = {}
    worst: Worst = {}
    groups = {
        "1way": [c for c in distances if len(c) == 1],
        "2way": [c for c in distances if len(c) == 2],
        "2way_associated": list(associated),
        "3way": [c for c in distances if len(c) == 3],
    }
    for way in ("1way", "2way"):
        for combination in groups[way]:
            figures[(f"tvd_{way}", join_columns(combination))] = distances[combination]
    for group, combinations in groups.items():
        if not combinations:
            continue  # no associated pair: nothing to average
        values = [distances[c] for c in combinations]
        figures[(f"tvd_{group}_mean", "")] = float(np.mean(values))
        figures[(f"tvd_{group}_max", "")] = float(np.max(values))
        worst[f"tvd_{group}_max"] = join_columns(combinations[int(np.argmax(values))])
    gap = (other.information - reference.information).abs().to_numpy()
    figures[("nmi_mean_abs_difference", "")] = float(gap[~np.eye(len(gap), dtype=bool)].mean())
    return figures, worst


# --- SDMetrics ----------------------------------------------------------------------------


def sdmetrics_figures(real: pd.DataFrame, synthetic: pd.DataFrame) -> Figures:
    """The figures of SDMetrics' quality report (column shapes; column pair trends at its
    default association thresholds and at 0) and of its diagnostic report (boundary and
    category adherence, table structure), as SDMetrics computes them.

    Each column's figure is the SDMetrics metric its reports run on that column. The pairs'
    contingency similarities, most of a report's time, are counted here as SDMetrics
    computes them (`sdmetrics_pair_scores`) and averaged as its reports average them: at 0
    over every pair, at the default thresholds over the pairs it would score there
    (`sdmetrics_scored_pairs`). A test checks every figure against SDMetrics' own reports.
    """
    from sdmetrics.single_column import (
        BoundaryAdherence,
        CategoryAdherence,
        KSComplement,
        TVComplement,
    )
    from sdmetrics.single_table import TableStructure

    real, synthetic = real[DEIDENTIFIED_COLUMNS], synthetic[DEIDENTIFIED_COLUMNS]
    with _silenced():
        shapes = pd.Series(
            [
                (KSComplement if column == TIME_IN_AE else TVComplement).compute(
                    real[column], synthetic[column]
                )
                for column in DEIDENTIFIED_COLUMNS
            ]
        )
        adherence = {
            column: (BoundaryAdherence if column == TIME_IN_AE else CategoryAdherence).compute(
                real[column], synthetic[column]
            )
            for column in DEIDENTIFIED_COLUMNS
        }
        structure = TableStructure.compute(real, synthetic)
    pairs = sdmetrics_pair_scores(real, synthetic)
    scored = sdmetrics_scored_pairs(real)
    column_shapes = float(shapes.mean())
    column_pair_trends = float(pd.Series([pairs[p] for p in pairs if scored[p]]).mean())
    figures: Figures = {
        ("quality_score", ""): float(np.nanmean([column_shapes, column_pair_trends])),
        ("column_shapes", ""): column_shapes,
        ("column_pair_trends", ""): column_pair_trends,
        ("column_pair_trends_all_pairs", ""): float(pd.Series(list(pairs.values())).mean()),
        ("table_structure", ""): float(structure),
    }
    for column, score in adherence.items():
        metric = "boundary_adherence" if column == TIME_IN_AE else "category_adherence"
        figures[(metric, column)] = float(score)
    return figures


def sdmetrics_pair_scores(
    real: pd.DataFrame, synthetic: pd.DataFrame
) -> dict[tuple[str, str], float]:
    """SDMetrics' contingency similarity of every pair of columns, as its quality report
    computes it (SDMetrics 0.32's ColumnPairTrends and ContingencySimilarity): one minus the
    total variation distance between the pair's joint distributions in the two datasets,
    with time in A&E in ten equal-width bins of each dataset's own range (numpy's
    `histogram_bin_edges`, as SDMetrics bins each dataset apart), counted on integer codes.
    SDMetrics subsamples above 50,000 records, which `SDMETRICS_SAMPLE_ROWS` never reaches."""
    codes, sizes = {}, {}
    for column in DEIDENTIFIED_COLUMNS:
        values = [frame[column].to_numpy() for frame in (real, synthetic)]
        if column == TIME_IN_AE:
            values = [np.digitize(v, bins=np.histogram_bin_edges(v)) for v in values]
        joint, vocabulary = pd.factorize(np.concatenate(values), use_na_sentinel=False)
        codes[column] = (joint[: len(real)], joint[len(real) :])
        sizes[column] = len(vocabulary)
    scores = {}
    for first, second in itertools.combinations(DEIDENTIFIED_COLUMNS, 2):
        cells = sizes[first] * sizes[second]
        shares = [
            np.bincount(a * sizes[second] + b, minlength=cells) / len(a)
            for a, b in zip(codes[first], codes[second], strict=True)
        ]
        scores[(first, second)] = float(1 - 0.5 * np.abs(shares[0] - shares[1]).sum())
    return scores


def sdmetrics_scored_pairs(real: pd.DataFrame) -> dict[tuple[str, str], bool]:
    """Which pairs of columns SDMetrics' quality report scores at its default thresholds:
    those whose Cramér's V in `real` (scipy's, without bias correction) is above
    `DEFAULT_REAL_ASSOCIATION_THRESHOLD`, on the table SDMetrics builds (time in A&E in
    numpy's equal-width bins of `real`, as SDMetrics bins it; values sorted; only the values
    seen). With one numerical column there is no pair for its correlation threshold."""
    from scipy.stats.contingency import association
    from sdmetrics.reports.utils import DEFAULT_REAL_ASSOCIATION_THRESHOLD

    codes, sizes = {}, {}
    for column in DEIDENTIFIED_COLUMNS:
        values = real[column].to_numpy()
        if column == TIME_IN_AE:
            values = np.digitize(values, bins=np.histogram_bin_edges(values))
        codes[column], vocabulary = pd.factorize(values, sort=True)
        sizes[column] = len(vocabulary)
    scored = {}
    for first, second in itertools.combinations(DEIDENTIFIED_COLUMNS, 2):
        rows, columns = sizes[first], sizes[second]
        cells = codes[first] * columns + codes[second]
        table = np.bincount(cells, minlength=rows * columns).reshape(rows, columns)
        table = table[table.any(axis=1)][:, table.any(axis=0)]
        scored[(first, second)] = bool(
            table.sum() > 0
            and min(table.shape) >= 2
            and association(table, method="cramer") > DEFAULT_REAL_ASSOCIATION_THRESHOLD
        )
    return scored


@contextlib.contextmanager
def _silenced():
    """SDMetrics prints progress and warns about its own internals; keep the run log clean."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


# --- Floors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Floors:
    """Each figure's mean and standard deviation over pairs of independent samples."""

    mean: Figures
    spread: Figures
    repetitions: int


def floors(
    figures_of: Callable[[np.ndarray, np.ndarray], Figures],
    population_rows: int,
    sizes: tuple[int, int],
    repetitions: int,
    rng: np.random.Generator,
) -> Floors:
    """The figures `figures_of(first, second)` gives for `repetitions` pairs of independent
    samples with replacement of the training data's `population_rows` positions, of the
    `sizes` of the two datasets the real figure compares."""
    draws = [
        figures_of(
            rng.integers(population_rows, size=sizes[0]),
            rng.integers(population_rows, size=sizes[1]),
        )
        for _ in range(repetitions)
    ]
    values = {key: np.array([draw[key] for draw in draws]) for key in draws[0]}
    return Floors(
        mean={key: float(v.mean()) for key, v in values.items()},
        spread={key: float(v.std(ddof=1)) if len(v) > 1 else 0.0 for key, v in values.items()},
        repetitions=repetitions,
    )


def fidelity_rows(mode: str, figures: Figures, worst: Worst, floor: Floors) -> list[dict]:
    """Rows of the metrics table for the figures, each with its floor and spread."""
    rows = []
    for (metric, columns), value in figures.items():
        rows.append(
            metric_row(
                mode,
                metric,
                value,
                worst.get(metric, columns),
                floor=floor.mean.get((metric, columns), np.nan),
                floor_spread=floor.spread.get((metric, columns), np.nan),
            )
        )
    return sorted(rows, key=lambda r: list(METRICS).index(r["metric"]))


# --- The training data as every fidelity figure's reference -------------------------------


@dataclass(frozen=True)
class FidelityReference:
    """The training data's codes and marginals, and which pairs of its columns are
    associated: what every synthetic dataset's fidelity is measured against."""

    codes: np.ndarray
    sizes: tuple[int, ...]
    plan: CountingPlan
    keys: list[np.ndarray]  # the training records' `encoding.block_keys`
    marginals: Marginals
    strengths: dict[Combination, float]  # bias-corrected Cramér's V of every pair
    associated: list[Combination]
    threshold: float


def fidelity_reference(
    codes: np.ndarray, sizes: tuple[int, ...], threshold: float
) -> FidelityReference:
    plan = counting_plan(sizes)
    keys = block_keys(codes, plan)
    training = counted_marginals(marginal_counts(keys, plan), len(codes))
    strengths = associations(training, len(codes))
    return FidelityReference(
        codes=codes,
        sizes=sizes,
        plan=plan,
        keys=keys,
        marginals=training,
        strengths=strengths,
        associated=[pair for pair, strength in strengths.items() if strength > threshold],
        threshold=threshold,
    )


def association_rows(reference: FidelityReference) -> list[dict]:
    """Each pair's association in the training data, beside the threshold it is held to."""
    return [
        metric_row(TRAINING_MODE, "cramers_v", strength, join_columns(pair),
                   reference=reference.threshold)
        for pair, strength in reference.strengths.items()
    ]  # fmt: skip


def marginal_floors(reference: FidelityReference, rows: int, seed: int) -> Floors:
    """The marginal figures' floors for a dataset of `rows` records."""

    population = len(reference.codes)

    def resampled(positions: np.ndarray) -> Marginals:
        # A sample's counts are its records' counts weighted by how often each was drawn:
        # the same integers as counting the drawn records, without copying them.
        drawn = np.bincount(positions, minlength=population).astype(float)
        counts = marginal_counts(reference.keys, reference.plan, weights=drawn)
        return counted_marginals(counts, len(positions))

    def figures_of(first: np.ndarray, second: np.ndarray) -> Figures:
        return marginal_figures(resampled(first), resampled(second), reference.associated)[0]

    rng = np.random.default_rng(np.random.SeedSequence([seed, 8, rows]))
    return floors(figures_of, population, (population, rows), MARGINAL_FLOOR_REPETITIONS, rng)


def sdmetrics_floors(training_sample: pd.DataFrame, rows: int, seed: int) -> Floors:
    """SDMetrics' figures' floors for a sample of `rows` records (at most
    `SDMETRICS_SAMPLE_ROWS`) against `training_sample`."""

    def figures_of(first: np.ndarray, second: np.ndarray) -> Figures:
        return sdmetrics_figures(training_sample.iloc[first], training_sample.iloc[second])

    rng = np.random.default_rng(np.random.SeedSequence([seed, 9, rows]))
    sizes = (len(training_sample), min(rows, SDMETRICS_SAMPLE_ROWS))
    return floors(figures_of, len(training_sample), sizes, SDMETRICS_FLOOR_REPETITIONS, rng)
