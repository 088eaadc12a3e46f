"""How faithful, how useful and how safe each synthetic dataset is: the tidy metrics table
behind the evaluation report and the release gate.

Fidelity is judged against its floor (what a perfect synthesiser would score at the same
sizes, `fidelity.py`), utility against models trained on real data (`utility.py`), privacy
against the real hold-out, records the synthesiser never saw (`privacy.py`). Every dataset
is encoded once (`encoding.py`) and every reference is computed once for all modes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from aesynth_pipeline.columns import DEIDENTIFIED_COLUMNS, TIME_IN_AE
from aesynth_pipeline.domain import fidelity
from aesynth_pipeline.domain.encoding import code_frames, row_keys, sample_rows, time_bin_edges
from aesynth_pipeline.domain.metrics import METRIC_COLUMNS, TRAINING_MODE, metric_row
from aesynth_pipeline.domain.privacy import (
    QUASI_IDENTIFIERS,
    privacy_reference,
    privacy_rows,
    privacy_size_rows,
)
from aesynth_pipeline.domain.utility import utility_reference, utility_rows


@dataclass(frozen=True)
class Evaluation:
    metrics: pd.DataFrame  # `METRIC_COLUMNS`
    # Pairwise normalised mutual information of the training data (under TRAINING_MODE)
    # and of each synthetic dataset, for the report's heatmaps.
    information: dict[str, pd.DataFrame]


def _marginal_rows(
    mode: str,
    reference: fidelity.FidelityReference,
    codes: np.ndarray,
    schema_violations: float,
    floors: fidelity.Floors,
) -> tuple[list[dict], fidelity.Marginals]:
    """The marginal figures of one dataset with their floors, and its schema violations."""
    own = fidelity.marginals(codes, reference.sizes)
    figures, worst = fidelity.marginal_figures(reference.marginals, own, reference.associated)
    rows = fidelity.fidelity_rows(mode, figures, worst, floors)
    # Real records of the same distribution never break the schema: its floor is exactly 0.
    rows.append(
        metric_row(mode, "schema_violation_share", schema_violations, floor=0.0, floor_spread=0.0)
    )
    return rows, own


def marginal_evaluation(
    training: pd.DataFrame,
    others: Mapping[str, pd.DataFrame],
    schema_violations: Mapping[str, float],
    seed: int,
    association_threshold: float = fidelity.DEFAULT_ASSOCIATION_THRESHOLD,
) -> pd.DataFrame:
    """Only what the fidelity release rules judge (associations, the marginals with their
    floors, the schema), without SDMetrics, utility or privacy: fast enough to judge many
    datasets, as the tests of the rules' power do."""
    coded = code_frames([training, *others.values()], time_bin_edges(training[TIME_IN_AE]))
    reference = fidelity.fidelity_reference(
        coded.binned[0], coded.binned_sizes, association_threshold
    )
    rows = fidelity.association_rows(reference)
    for position, (mode, frame) in enumerate(others.items(), start=1):
        floors = fidelity.marginal_floors(reference, len(frame), seed)
        mode_rows, _ = _marginal_rows(
            mode, reference, coded.binned[position], schema_violations[mode], floors
        )
        rows += [
            *mode_rows,
            metric_row(mode, "records", len(frame)),
            metric_row(mode, "floor_repetitions", floors.repetitions),
        ]
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def evaluate(
    training: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic_by_mode: Mapping[str, pd.DataFrame],
    schema_violations: Mapping[str, float],
    seed: int,
    association_threshold: float = fidelity.DEFAULT_ASSOCIATION_THRESHOLD,
    progress: Callable[[str], None] = lambda message: None,
) -> Evaluation:
    """Every metric for every synthetic dataset. `schema_violations` holds, per mode, the
    share of records that break the dataset's schema (judged by the caller's schemas)."""
    progress("the real data: encoding, associations and reference figures")
    modes = list(synthetic_by_mode)
    frames = [training, holdout, *(synthetic_by_mode[mode] for mode in modes)]
    coded = code_frames(frames, time_bin_edges(training[TIME_IN_AE]))
    reference = fidelity.fidelity_reference(
        coded.binned[0], coded.binned_sizes, association_threshold
    )
    rows = fidelity.association_rows(reference)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 6]))
    sdmetrics_training = sample_rows(training, fidelity.SDMETRICS_SAMPLE_ROWS, rng)
    record_keys = row_keys(coded.exact, coded.exact_sizes)
    qi = [DEIDENTIFIED_COLUMNS.index(column) for column in QUASI_IDENTIFIERS]
    qi_keys = row_keys([codes[:, qi] for codes in coded.exact], [coded.exact_sizes[j] for j in qi])
    privacy = privacy_reference(
        training, holdout, (record_keys[0], record_keys[1]), (qi_keys[0], qi_keys[1]), rng
    )
    utility = utility_reference(training, holdout, seed, rng)

    @cache
    def floors_for(rows: int) -> fidelity.Floors:
        """The floors of a synthetic dataset of `rows` records: the same for every mode of
        that size, so computed once."""
        marginal = fidelity.marginal_floors(reference, rows, seed)
        sdmetrics = fidelity.sdmetrics_floors(sdmetrics_training, rows, seed)
        return fidelity.Floors(
            mean={**marginal.mean, **sdmetrics.mean},
            spread={**marginal.spread, **sdmetrics.spread},
            repetitions=marginal.repetitions,
        )

    information = {TRAINING_MODE: reference.marginals.information}
    for position, mode in enumerate(modes, start=2):
        frame = synthetic_by_mode[mode]
        mode_rng = np.random.default_rng(np.random.SeedSequence([seed, 7, position]))
        progress(f"{mode} mode: fidelity, and its floor at {len(frame):,} records")
        floors = floors_for(len(frame))
        mode_rows, own = _marginal_rows(
            mode, reference, coded.binned[position], schema_violations[mode], floors
        )
        information[mode] = own.information
        sdmetrics = fidelity.sdmetrics_figures(
            sdmetrics_training, sample_rows(frame, fidelity.SDMETRICS_SAMPLE_ROWS, mode_rng)
        )
        rows += fidelity.fidelity_rows(mode, sdmetrics, {}, floors) + mode_rows
        progress(f"{mode} mode: utility")
        rows += utility_rows(mode, utility, frame, mode_rng)
        progress(f"{mode} mode: privacy")
        rows += privacy_rows(
            mode, privacy, frame, record_keys[position], qi_keys[position], mode_rng
        )
        rows += [
            metric_row(mode, "records", len(frame), reference=len(holdout)),
            metric_row(mode, "floor_repetitions", fidelity.MARGINAL_FLOOR_REPETITIONS,
                       reference=fidelity.SDMETRICS_FLOOR_REPETITIONS),
            metric_row(mode, "sdmetrics_sample", min(len(frame), fidelity.SDMETRICS_SAMPLE_ROWS),
                       reference=len(sdmetrics_training)),
            *privacy_size_rows(mode, privacy, len(frame)),
        ]  # fmt: skip
    return Evaluation(metrics=pd.DataFrame(rows, columns=METRIC_COLUMNS), information=information)
