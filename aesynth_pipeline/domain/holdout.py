"""The training / hold-out split: the synthesiser learns from one part only, and the other,
never shown to it, is the yardstick for how close "close to the training data" is."""

from __future__ import annotations

import numpy as np
import pandas as pd


def split_train_holdout(
    frame: pd.DataFrame, holdout_share: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows at random into (training, hold-out), identical for the same seed.

    Both parts keep the rows' original order; together they hold every row exactly once.
    """
    if not 0 < holdout_share < 1:
        raise ValueError(f"holdout_share must be between 0 and 1, got {holdout_share}")
    holdout_rows = round(len(frame) * holdout_share)
    if holdout_rows < 1 or holdout_rows >= len(frame):
        raise ValueError(
            f"a hold-out share of {holdout_share} leaves an empty part of {len(frame)} rows"
        )
    rng = np.random.default_rng(np.random.SeedSequence([seed, 5]))
    in_holdout = np.zeros(len(frame), dtype=bool)
    in_holdout[rng.choice(len(frame), size=holdout_rows, replace=False)] = True
    return (
        frame.loc[~in_holdout].reset_index(drop=True),
        frame.loc[in_holdout].reset_index(drop=True),
    )
