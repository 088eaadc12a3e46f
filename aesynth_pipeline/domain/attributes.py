"""What every synthesis engine shares: how it sees the de-identified attributes, the frame
it must hand back, the Bayesian network of a description in DataSynthesizer's format, and the
error it raises.

DataSynthesizer's adapter (`synthesise.py`) and the fast PrivBayes engine (`privbayes.py`)
both build on this module, so neither imports the other for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from aesynth_pipeline.columns import DEIDENTIFIED_COLUMNS, IMD_DECILE, TIME_IN_AE

# Description fields that hold exact facts about the training data and that no generator
# reads: removed before a description is saved.
UNPUBLISHED_META = ("num_tuples",)

# Every attribute is a category over its declared domain (see public_domain.py), Time in
# A&E by the left edge of its bin: a number the engines never see more precisely.
INTEGER_ATTRIBUTES = (TIME_IN_AE, IMD_DECILE)
ATTRIBUTE_DATATYPES = {
    column: "Integer" if column in INTEGER_ATTRIBUTES else "String"
    for column in DEIDENTIFIED_COLUMNS
}
ATTRIBUTE_IS_CATEGORICAL = dict.fromkeys(DEIDENTIFIED_COLUMNS, True)
ATTRIBUTE_IS_CANDIDATE_KEY = dict.fromkeys(DEIDENTIFIED_COLUMNS, False)


class SynthesisError(RuntimeError):
    """A synthesis engine failed; the message names the mode and the parameters."""


def as_deidentified_frame(synthetic: pd.DataFrame) -> pd.DataFrame:
    """An engine's output with the de-identified columns, order and dtypes.

    DataSynthesizer hands integers back as floats such as 65.0, and categories may come back
    as numbers. A column that already has its dtype (the fast engines' output) is kept as it
    is: converting a million text values again costs most of a fast generation.
    """
    missing = [column for column in DEIDENTIFIED_COLUMNS if column not in synthetic]
    if missing:
        raise SynthesisError(f"the synthetic data lacks column(s) {missing}")
    columns, incomplete = {}, []
    for column in DEIDENTIFIED_COLUMNS:
        values = synthetic[column].reset_index(drop=True)
        if column in INTEGER_ATTRIBUTES:
            as_wanted = values.dtype == np.int64
        else:
            # "string" means every value is text: none is missing.
            as_wanted = values.dtype == object and infer_dtype(values, skipna=False) == "string"
        if as_wanted:
            columns[column] = values
        elif values.isna().any():
            incomplete.append(column)
        elif column in INTEGER_ATTRIBUTES:
            columns[column] = pd.to_numeric(values).round().astype("int64")
        else:
            columns[column] = values.astype(str).astype(object)
    if incomplete:
        raise SynthesisError(f"the synthetic data has missing values in {incomplete}")
    return pd.DataFrame(columns)


def bayesian_network(description: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """The learned network as (child, parents) pairs; empty outside correlated mode."""
    return [(child, list(parents)) for child, parents in description.get("bayesian_network", [])]


def network_attributes(description: dict[str, Any]) -> set[str]:
    """Every attribute in the network: the root (first parent) and every child."""
    network = bayesian_network(description)
    if not network:
        return set()
    return {network[0][1][0], *(child for child, _ in network)}


def require_deidentified_columns(training: pd.DataFrame) -> None:
    """Stop unless the training data have every de-identified column and no missing value."""
    missing = [column for column in DEIDENTIFIED_COLUMNS if column not in training]
    if missing:
        raise SynthesisError(f"the training data lacks column(s) {missing}")
    if training[DEIDENTIFIED_COLUMNS].isna().any().any():
        # DataSynthesizer records a missing rate but never generates missing values.
        raise SynthesisError("the training data has missing values, which would be lost")
