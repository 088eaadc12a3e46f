"""The release rules' false-alarm rate and power, over many seeded draws of real records.

Real records the synthesiser never saw are the perfect synthetic dataset: the de-identified
table of a run twice the default size, split into disjoint halves in 20 ways, one half as
the training data and the other as the "synthetic" dataset, must pass the fidelity rules.
Data that drop what a rule protects must fail it, every time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aesynth_pipeline import columns as c
from aesynth_pipeline.domain.evaluate import marginal_evaluation
from aesynth_pipeline.domain.gate import (
    COLUMN_RULE,
    FIDELITY_RULES,
    PAIR_RULE,
    GateThresholds,
    release_gate,
)
from aesynth_pipeline.domain.modes import Promise
from aesynth_pipeline.schemas import SyntheticDataset, violating_share

from .conftest import FOUNDATION, materialise_pipeline

SPLITS = 20
# About 15,800 de-identified records: halves as large as the default run's training data.
ROWS = 16_000


@pytest.fixture(scope="module")
def deidentified(tmp_path_factory) -> pd.DataFrame:
    run = materialise_pipeline(
        tmp_path_factory.mktemp("rules"),
        rows=ROWS,
        pseudonym_key="k",
        selection=FOUNDATION,
    )
    return run.read("hospital_ae_deidentified")


def halves(frame: pd.DataFrame, split: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = np.random.default_rng([split, 1]).permutation(len(frame))
    middle = len(frame) // 2
    first, second = order[:middle], order[middle : 2 * middle]
    return (
        frame.iloc[first].reset_index(drop=True),
        frame.iloc[second].reset_index(drop=True),
    )


def product_of_marginals(training: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Each column drawn on its own from the training data's distribution: every column's
    distribution kept, every relation between columns gone."""
    return pd.DataFrame(
        {
            column: training[column].to_numpy()[rng.integers(len(training), size=len(training))]
            for column in c.DEIDENTIFIED_COLUMNS
        }
    )


def verdicts(
    training: pd.DataFrame, others: dict[str, pd.DataFrame], thresholds: GateThresholds, seed: int
) -> pd.DataFrame:
    """The fidelity rules' verdicts on each of `others`, judged as datasets that promise to
    keep relations (so every fidelity rule applies)."""
    violations = {name: violating_share(SyntheticDataset, frame) for name, frame in others.items()}
    metrics = marginal_evaluation(training, others, violations, seed)
    promises = dict.fromkeys(others, Promise.RELATIONS)
    gate = release_gate(metrics, thresholds, promises, rules=FIDELITY_RULES)
    return gate.set_index(["mode", "rule"])["passed"]


@pytest.fixture(scope="module")
def outcomes(deidentified) -> pd.DataFrame:
    """Per split: the verdicts on the unseen half and on a product of the training half's
    marginals, at the default thresholds and with no tolerance at all."""
    rows = []
    for split in range(SPLITS):
        training, unseen = halves(deidentified, split)
        others = {
            "unseen": unseen,
            "product": product_of_marginals(training, np.random.default_rng([split, 2])),
        }
        for label, thresholds in (
            ("default", GateThresholds()),
            ("no tolerance", GateThresholds(tolerance_1way=0, tolerance_2way=0)),
        ):
            passed = verdicts(training, others, thresholds, seed=split)
            rows += [
                {"split": split, "thresholds": label, "mode": mode, "rule": rule, "passed": ok}
                for (mode, rule), ok in passed.items()
            ]
    return pd.DataFrame(rows)


def passes(outcomes: pd.DataFrame, mode: str, thresholds: str, rules=FIDELITY_RULES) -> int:
    """In how many splits `mode` passes every one of `rules`."""
    chosen = outcomes[
        (outcomes["mode"] == mode)
        & (outcomes["thresholds"] == thresholds)
        & outcomes["rule"].isin(rules)
    ]
    return int(chosen.groupby("split")["passed"].all().sum())


def test_unseen_real_records_pass_the_fidelity_rules_in_at_least_19_of_20_splits(outcomes):
    assert passes(outcomes, "unseen", "default") >= 19


def test_the_floor_is_a_calibrated_reference_even_with_no_tolerance(outcomes):
    # With the tolerance at 0 only the allowance for sampling spread is left: real records
    # still pass, so the floor and its spread are what a perfect synthesiser scores.
    assert passes(outcomes, "unseen", "no tolerance") >= 19


def test_a_product_of_the_training_marginals_fails_the_relations_rule_in_every_split(outcomes):
    assert passes(outcomes, "product", "default", rules=[PAIR_RULE]) == 0
    # It keeps every column's distribution, and the column rule says so.
    assert passes(outcomes, "product", "default", rules=[COLUMN_RULE]) >= 19


def test_a_column_with_the_wrong_distribution_fails_the_column_rule_in_every_split(
    deidentified,
):
    failures = 0
    for split in range(SPLITS):
        training, unseen = halves(deidentified, split)
        rng = np.random.default_rng([split, 3])
        hospitals = training[c.HOSPITAL_ID].unique()
        # Every hospital equally often: the real data's very unequal hospital sizes are gone.
        flattened = unseen.assign(**{c.HOSPITAL_ID: rng.choice(hospitals, size=len(unseen))})
        passed = verdicts(training, {"flattened": flattened}, GateThresholds(), seed=split)
        failures += not passed[("flattened", COLUMN_RULE)]
    assert failures == SPLITS
