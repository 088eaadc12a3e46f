"""The privacy ledger of every engine, recomputed from the noise each one actually drew, and
the derivation of the fast engine's network-score sensitivity, checked on real counts."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from DataSynthesizer.lib import PrivBayes

from aesynth_pipeline import columns as c
from aesynth_pipeline.domain import aim, histograms, ledger, privbayes
from aesynth_pipeline.domain.synthesise import (
    DATASYNTHESIZER_CORRELATED_SHARE,
    SynthesisParameters,
    describe,
)

from .conftest import SMALL_RUN, UP_TO_SYNTHESIS, declared_domain, materialise_pipeline

DOMAIN = declared_domain()
ATTRIBUTES = len(c.DEIDENTIFIED_COLUMNS)


@pytest.fixture(scope="module")
def training(tmp_path_factory) -> pd.DataFrame:
    run = materialise_pipeline(
        tmp_path_factory.mktemp("ledger"),
        **{**SMALL_RUN, "modes": ("random",)},
        selection=UP_TO_SYNTHESIS,
    )
    return run.read("deidentified_train")


class RecordingGenerator:
    """A numpy generator that notes every Laplace draw and every choice it makes."""

    def __init__(self, generator: np.random.Generator, record: list):
        self.generator, self.record = generator, record

    def spawn(self, count: int) -> list[RecordingGenerator]:
        return [RecordingGenerator(g, self.record) for g in self.generator.spawn(count)]

    def laplace(self, loc, scale, size):
        self.record.append(("laplace", scale, size))
        return self.generator.laplace(loc, scale, size)

    def choice(self, options, p=None):
        self.record.append(("choice", p, None))
        return self.generator.choice(options, p=p)

    def __getattr__(self, name):
        return getattr(self.generator, name)


def charge(description: dict, mechanism: str) -> dict:
    [entry] = [e for e in description["privacy_ledger"]["charges"] if e["mechanism"] == mechanism]
    return entry


@pytest.mark.parametrize(("epsilon", "degree"), [(1.0, 1), (0.3, 2)])
def test_the_fast_engine_spends_exactly_epsilon_by_the_noise_it_draws(training, epsilon, degree):
    draws: list = []
    description = privbayes.describe_correlated(
        training, epsilon, degree, RecordingGenerator(np.random.default_rng(5), draws),
        domain=DOMAIN,
    )  # fmt: skip
    tables = [(scale, size) for kind, scale, size in draws if kind == "laplace"]
    choices = [p for kind, p, _ in draws if kind == "choice"]
    # One noisy table per child after the first k, plus the first; each record added or
    # removed changes one cell of each by 1.
    assert len(tables) == ATTRIBUTES - degree
    # Each spans the declared domain of its attributes, whatever the data hold.
    later = description["bayesian_network"][degree:]
    assert [size for _, size in tables][1:] == [
        math.prod(DOMAIN.sizes[c.DEIDENTIFIED_COLUMNS.index(a)] for a in [*parents, child])
        for child, parents in later
    ]
    table_epsilon = math.fsum(1.0 / scale for scale, _ in tables)
    assert table_epsilon == pytest.approx(epsilon / 2)
    assert charge(description, "laplace")["epsilon"] == pytest.approx(table_epsilon)
    # One choice per attribute after the root, each at ε/(2(d − 1)).
    assert len(choices) == ATTRIBUTES - 1
    network = charge(description, "exponential")
    assert network["releases"] == len(choices)
    assert network["epsilon"] == pytest.approx(epsilon / 2)
    assert network["sensitivity"] == pytest.approx(1 + math.log(privbayes.MAX_TRAINING_ROWS))
    total = description["privacy_ledger"]["total"]
    assert total == {"rho": None, "epsilon": pytest.approx(epsilon), "delta": 0.0}
    assert description["privacy_ledger"]["neighbouring relation"] == ledger.ADD_REMOVE


def test_the_network_choice_is_the_exponential_mechanism_at_its_stated_epsilon():
    rng = np.random.default_rng(0)
    information, rows, epsilon, sensitivity = rng.random(40) * 0.05, 7_000, 0.07, 21.7
    probabilities = privbayes.weighted_information_mechanism(
        information, rows, epsilon, sensitivity
    )
    # log(p_i / p_j) = ε (q_i − q_j) / (2Δ), with q = n·I: the mechanism at ε for scores of
    # sensitivity Δ.
    log_ratios = np.log(probabilities / probabilities[0])
    expected = epsilon * rows * (information - information[0]) / (2 * sensitivity)
    np.testing.assert_allclose(log_ratios, expected, atol=1e-9)


def _weighted_information(joint: np.ndarray) -> float:
    """n·I(X; Y) from a table of counts (0 for no records)."""
    if not joint.sum():
        return 0.0
    return float(joint.sum()) * privbayes.information.mutual_information(joint)


@pytest.mark.parametrize("shape", [(2, 2), (3, 5), (8, 4)])
def test_one_record_changes_the_weighted_information_by_at_most_its_bound(shape):
    """The sensitivity the fast engine's network choice is calibrated to, 1 + ln N, checked
    on many tables of counts, lopsided ones included (where the change is largest), against
    every cell a record could be added to or removed from."""
    rng = np.random.default_rng(sum(shape))
    largest = 0.0
    for trial in range(300):
        rows = int(rng.integers(1, 400))
        shares = rng.dirichlet(np.full(math.prod(shape), 0.05 if trial % 2 else 1.0))
        joint = rng.multinomial(rows, shares).reshape(shape).astype(float)
        before = _weighted_information(joint)
        for cell in itertools.product(*(range(size) for size in shape)):
            for change in (1, -1):
                if joint[cell] + change < 0:
                    continue
                changed = joint.copy()
                changed[cell] += change
                after = _weighted_information(changed)
                bound = math.log(max(joint.sum(), changed.sum()) + 1) + 1
                assert abs(after - before) <= bound + 1e-9
                largest = max(largest, abs(after - before) / bound)
    # The bound is not loose by orders of magnitude: some change comes near it.
    assert largest > 0.3


@pytest.mark.parametrize("epsilon", [1.0, 0.3])
def test_the_fast_independent_mode_spends_exactly_epsilon_by_the_noise_it_draws(training, epsilon):
    draws: list = []
    description = histograms.describe_independent(
        training, epsilon, RecordingGenerator(np.random.default_rng(5), draws), domain=DOMAIN
    )
    noise = [(scale, size) for kind, scale, size in draws if kind == "laplace"]
    # One histogram per attribute over its declared domain, whatever the data hold; each
    # record added or removed changes one count of each by 1.
    assert [size for _, size in noise] == list(DOMAIN.sizes)
    spent = math.fsum(1.0 / scale for scale, _ in noise)
    assert spent == pytest.approx(epsilon)
    assert charge(description, "laplace")["epsilon"] == pytest.approx(spent)
    total = description["privacy_ledger"]["total"]
    assert total == {"rho": None, "epsilon": pytest.approx(epsilon), "delta": 0.0}
    assert description["privacy_ledger"]["neighbouring relation"] == ledger.ADD_REMOVE


def test_datasynthesizers_ledger_is_the_noise_it_draws(training, monkeypatch):
    """Record every Laplace draw and every ε DataSynthesizer's network choice is given."""
    laplace_draws, network_epsilons = [], []
    laplace, mechanism = np.random.laplace, PrivBayes.exponential_mechanism

    def recording_laplace(loc=0.0, scale=1.0, size=None):
        laplace_draws.append((scale, size))
        return laplace(loc, scale, size)

    def recording_mechanism(epsilon, *arguments, **keywords):
        network_epsilons.append(epsilon)
        return mechanism(epsilon, *arguments, **keywords)

    monkeypatch.setattr(np.random, "laplace", recording_laplace)
    monkeypatch.setattr(PrivBayes, "exponential_mechanism", recording_mechanism)
    rows = len(training)

    independent = describe(
        training, SynthesisParameters("independent", 0.8, 1, seed=2, engine="datasynthesizer",
                                      domain=DOMAIN),
    )  # fmt: skip
    # Noise on each histogram's shares, whose L1 sensitivity for one record replaced is 2/n.
    assert len(laplace_draws) == ATTRIBUTES
    spent = math.fsum((2 / rows) / scale for scale, _ in laplace_draws)
    assert spent == pytest.approx(0.8)
    assert independent["privacy_ledger"]["total"]["epsilon"] == pytest.approx(spent)
    assert independent["privacy_ledger"]["neighbouring relation"] == ledger.REPLACE_ONE

    laplace_draws.clear()
    correlated = describe(
        training, SynthesisParameters("correlated", 0.8, 2, seed=2, engine="datasynthesizer",
                                      domain=DOMAIN),
    )  # fmt: skip
    given = 0.8 * DATASYNTHESIZER_CORRELATED_SHARE
    # Its 1-way histograms are drawn first, then one table per child after the first k.
    histograms, tables = laplace_draws[:ATTRIBUTES], laplace_draws[ATTRIBUTES:]
    assert math.fsum((2 / (rows + 1)) / scale for scale, _ in histograms) == pytest.approx(given)
    assert len(tables) == ATTRIBUTES - 2
    # Counts, whose L1 sensitivity for one record replaced is 2 in each table.
    table_epsilon = math.fsum(2 / scale for scale, _ in tables)
    # DataSynthesizer hands each round the network's whole ε and divides it by d − 1 inside.
    assert len(network_epsilons) == ATTRIBUTES - 1
    assert network_epsilons == pytest.approx([given / 2] * (ATTRIBUTES - 1))
    network_epsilon = given / 2
    charges = {e["mechanism"]: e["epsilon"] for e in correlated["privacy_ledger"]["charges"]}
    assert charges == {
        "laplace": pytest.approx(table_epsilon),
        "exponential": pytest.approx(network_epsilon),
    }
    # The histograms' ε is not spent: the description holds the model's own instead.
    assert correlated["privacy_ledger"]["total"]["epsilon"] == pytest.approx(0.8)
    noisy_shares = [
        info["distribution_probabilities"] for info in correlated["attribute_description"].values()
    ]
    assert all(abs(sum(shares) - 1) < 1e-9 for shares in noisy_shares)


def test_aims_ledger_sums_to_its_budget_and_states_the_epsilon_it_gives(training):
    description = describe(
        training.head(2_000), SynthesisParameters("aim", 1.0, 1, seed=4, domain=DOMAIN)
    )
    rho = aim.zcdp_rho(1.0, 1e-9)
    total = description["privacy_ledger"]["total"]
    assert total["rho"] == pytest.approx(rho, rel=1e-9)
    assert total["delta"] == 1e-9
    assert total["epsilon"] == pytest.approx(1.0, rel=1e-6)
    # Each measurement's ρ is its noise's: 1/(2σ²) for a count marginal of L2 sensitivity 1.
    measured = [e for e in description["privacy_ledger"]["charges"] if e["mechanism"] == "gaussian"]
    assert [e["scale"] for e in measured] == [m["sigma"] for m in description["measurements"]]
    assert all(e["rho"] == pytest.approx(0.5 / e["scale"] ** 2) for e in measured)


def test_random_mode_costs_nothing_and_no_noise_is_no_guarantee(training):
    random = describe(training, SynthesisParameters("random", 1.0, 1, seed=1, domain=DOMAIN))
    assert random["privacy_ledger"]["total"]["epsilon"] == 0.0
    assert random["privacy_ledger"]["charges"] == []
    noiseless = describe(training, SynthesisParameters("correlated", 0.0, 1, seed=1, domain=DOMAIN))
    assert noiseless["privacy_ledger"]["total"]["epsilon"] is None
    assert "none" in noiseless["privacy_ledger"]["guarantee"]
