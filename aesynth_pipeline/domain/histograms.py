"""Random and independent modes on the fast engine: DataSynthesizer's random and independent
attribute modes on integer codes, in its description format (either generator reads either
engine's file).

DataSynthesizer writes the whole training set to a CSV file and reads it back in both modes,
random mode included, although its description holds nothing of the data; its generators
then draw every value through a Python function call, six million calls for 800,000 records.
Here:

- random mode's description is the declared domain alone, every attribute uniform over its
  declared values; no training record is read. DataSynthesizer takes each text attribute's
  shortest and longest length from the data, which no generator reads for a categorical
  attribute; here they are the declared values' own;
- independent mode's is each attribute's 1-way histogram of counts over its declared values
  with Laplace noise, under the fast engine's accounting: one attendance added or removed
  changes one count in each of the d histograms by 1, an L1 sensitivity of d in all, so
  noise of scale d/ε on every count spends exactly ε and needs no row count. Negative counts
  are set to 0 and each histogram is normalised, which is post-processing. DataSynthesizer
  calibrates its noise to one record replaced, the row count public (scale 2d/ε on counts);
- generation draws each attribute's bins independently from its distribution, by inverse
  CDF on one uniform number per value, as DataSynthesizer's independent generator does, and
  each stay within its bin of the declared domain.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from aesynth_pipeline.columns import DEIDENTIFIED_COLUMNS
from aesynth_pipeline.domain import ledger
from aesynth_pipeline.domain.attributes import (
    SynthesisError,
    as_deidentified_frame,
    require_deidentified_columns,
)
from aesynth_pipeline.domain.privbayes import (
    describe_attribute,
    description_meta,
    encode_training,
    normalise,
    values_from_bins,
)
from aesynth_pipeline.domain.public_domain import PublicDomain, with_time_binned, with_time_in_bins

HISTOGRAMS = "1-way histograms, one per attribute"


def describe_random(domain: PublicDomain) -> dict[str, Any]:
    """A random-mode description: every attribute uniform over its declared values, with its
    ledger (nothing spent)."""
    nothing = {column: pd.Series([], name=column, dtype=object) for column in DEIDENTIFIED_COLUMNS}
    attribute_description = {
        column: describe_attribute(nothing[column], domain.values(column))[0]
        for column in DEIDENTIFIED_COLUMNS
    }
    return {
        "meta": description_meta(),
        "attribute_description": attribute_description,
        "privacy_ledger": ledger.ledger([], ledger.ADD_REMOVE, [ledger.DECLARED_DOMAIN]),
    }


def describe_independent(
    training: pd.DataFrame, epsilon: float, seed: int | np.random.Generator, *, domain: PublicDomain
) -> dict[str, Any]:
    """An independent-mode description of `training` over the declared `domain`: each
    attribute's histogram with Laplace noise of scale d/ε on its counts (ε = 0: no noise),
    with its ledger. The same seed gives the same description."""
    require_deidentified_columns(training)
    if not (math.isfinite(epsilon) and epsilon >= 0):
        raise SynthesisError(f"epsilon must be 0 (no noise) or positive, got {epsilon}")
    # A generator given is used as it is (a test may record its draws).
    rng = np.random.default_rng(seed) if isinstance(seed, int | np.integer) else seed
    attribute_description, codes = encode_training(
        with_time_binned(training[DEIDENTIFIED_COLUMNS], domain), domain
    )
    for index, column in enumerate(DEIDENTIFIED_COLUMNS):
        described = attribute_description[column]
        counts = np.bincount(codes[:, index], minlength=len(described["distribution_bins"]))
        if epsilon:
            noisy = counts + rng.laplace(0.0, histogram_noise_scale(epsilon), size=counts.size)
        else:
            noisy = counts
        described["distribution_probabilities"] = normalise(noisy.astype(float)).tolist()
    return {
        "meta": description_meta(),
        "attribute_description": attribute_description,
        "privacy_ledger": independent_ledger(epsilon),
    }


def histogram_noise_scale(epsilon: float) -> float:
    """The Laplace scale on every count: L1 sensitivity d (one count in each of the d
    histograms), over ε."""
    return len(DEIDENTIFIED_COLUMNS) / epsilon


def independent_ledger(epsilon: float) -> dict[str, Any]:
    """What independent mode spends on the fast engine, from the noise it adds."""
    public = [ledger.DECLARED_DOMAIN]
    if epsilon == 0:
        return ledger.ledger([], ledger.ADD_REMOVE, public, noiseless=True)
    charge = ledger.Charge(
        HISTOGRAMS,
        "laplace",
        releases=len(DEIDENTIFIED_COLUMNS),
        sensitivity=1.0,
        scale=histogram_noise_scale(epsilon),
    )
    return ledger.ledger([charge], ledger.ADD_REMOVE, public)


def generate_independent(
    description: dict[str, Any], rows: int, seed: int, *, domain: PublicDomain
) -> pd.DataFrame:
    """`rows` synthetic records, each attribute drawn on its own from a random- or
    independent-mode description written by either engine, with the de-identified columns and
    dtypes, each stay drawn within its bin of `domain`. The same seed gives the same records."""
    if rows < 1:
        raise SynthesisError(f"rows to synthesise must be at least 1, got {rows}")
    attributes = description.get("attribute_description", {})
    missing = [column for column in DEIDENTIFIED_COLUMNS if column not in attributes]
    if missing:
        raise SynthesisError(f"the description has no attribute description for {missing}")
    code_rng, value_rng = np.random.default_rng(seed).spawn(2)
    values = {}
    for column in DEIDENTIFIED_COLUMNS:
        info = attributes[column]
        if not info["is_categorical"]:
            raise SynthesisError(
                f"{column}: every attribute must be a category over its declared domain"
            )
        # DataSynthesizer's random mode writes an integer attribute's probabilities as 0
        # (its `full_like` on integer bins); an all-zero distribution is read as uniform.
        probabilities = normalise(np.asarray(info["distribution_probabilities"], dtype=float))
        if probabilities.size != len(info["distribution_bins"]):
            raise SynthesisError(
                f"{column}: {probabilities.size} probabilities for "
                f"{len(info['distribution_bins'])} bins"
            )
        cumulative = np.cumsum(probabilities)
        # Scaling by the total keeps a distribution that does not sum exactly to 1 unbiased.
        bins = np.searchsorted(
            cumulative[:-1], code_rng.random(rows) * cumulative[-1], side="right"
        )
        values[column] = values_from_bins(info, bins)
    return as_deidentified_frame(with_time_in_bins(pd.DataFrame(values), domain, value_rng))
