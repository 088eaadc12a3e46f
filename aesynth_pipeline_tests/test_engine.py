"""The fast engine against DataSynthesizer itself, on the same training data: in correlated
mode the same description without noise, the same privacy mechanisms with it, equally
faithful synthetic data; in random and independent mode the same description without noise
and half DataSynthesizer's noise with it; and descriptions that either engine's generator
reads."""

from __future__ import annotations

import copy
import json
from itertools import product

import numpy as np
import pandas as pd
import pytest
from DataSynthesizer.lib import PrivBayes
from scipy import stats

from aesynth_pipeline import columns as c
from aesynth_pipeline.assets.versions import description_version, synthetic_version
from aesynth_pipeline.domain import privbayes
from aesynth_pipeline.domain.attributes import SynthesisError
from aesynth_pipeline.domain.encoding import code_frames, time_bin_edges
from aesynth_pipeline.domain.fidelity import marginal_figures, marginals
from aesynth_pipeline.domain.holdout import split_train_holdout
from aesynth_pipeline.domain.modes import MODES
from aesynth_pipeline.domain.public_domain import with_time_binned
from aesynth_pipeline.domain.synthesise import (
    DATASYNTHESIZER_CORRELATED_SHARE,
    Engine,
    SynthesisParameters,
    describe,
    generate,
)
from aesynth_pipeline.schemas import synthetic_schema
from aesynth_pipeline.settings import Settings

from .conftest import FOUNDATION, declared_domain, materialise_pipeline

# About 4,000 training rows: enough for DataSynthesizer's network to be stable without noise,
# few enough that it describes them in seconds.
ROWS = 5_000
ATTRIBUTES = len(c.DEIDENTIFIED_COLUMNS)
DOMAIN = declared_domain()


class _SerialPool:
    """DataSynthesizer's process pool, run in this process: the same scores in the same
    order (the pool only maps a function over the candidates), without forking workers and
    pickling the frame for each candidate, which on data this small costs more than it saves."""

    def __enter__(self) -> _SerialPool:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def map(self, function, tasks):
        return [function(task) for task in tasks]


@pytest.fixture(scope="module", autouse=True)
def _datasynthesizer_in_process():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PrivBayes, "Pool", _SerialPool)
        yield


@pytest.fixture(scope="module")
def training(tmp_path_factory) -> pd.DataFrame:
    run = materialise_pipeline(
        tmp_path_factory.mktemp("engine"), rows=ROWS, pseudonym_key="k", selection=FOUNDATION
    )
    training, _ = split_train_holdout(run.read("hospital_ae_deidentified"), 0.2, seed=42)
    return training


@pytest.fixture(scope="module")
def noiseless_reference(training) -> dict[int, dict]:
    """DataSynthesizer's descriptions without noise, for k = 1 and k = 2."""
    return {
        degree: describe(training, _parameters("datasynthesizer", 0.0, degree, 3))
        for degree in (1, 2)
    }


def _parameters(
    engine: Engine, epsilon: float = 1.0, degree: int = 2, seed: int = 1
) -> SynthesisParameters:
    return SynthesisParameters("correlated", epsilon, degree, seed, engine, domain=DOMAIN)


def _probabilities(description: dict) -> dict[tuple[str, str], list[float]]:
    """Every distribution in a description, by (attribute, parent key), in file order."""
    flat = {}
    for attribute, distributions in description["conditional_probabilities"].items():
        if isinstance(distributions, list):
            flat[attribute, "root"] = distributions
        else:
            flat.update({(attribute, key): value for key, value in distributions.items()})
    return flat


# --- Without noise: DataSynthesizer's description ------------------------------------------


@pytest.mark.parametrize("degree", [1, 2])
def test_without_noise_the_description_is_datasynthesizers(training, noiseless_reference, degree):
    expected = copy.deepcopy(noiseless_reference[degree])
    # Both engines draw the root at random, each from its own generator: given the same root,
    # everything else is determined by the data.
    root = expected["bayesian_network"][0][1][0]
    ours = json.loads(
        json.dumps(
            privbayes.describe_correlated(
                training,
                0.0,
                degree,
                seed=3,
                root=root,
                domain=DOMAIN,
                accounting="datasynthesizer",
            )  # fmt: skip
        )
    )
    assert ours["meta"] == expected["meta"]
    for attribute, described in expected["attribute_description"].items():
        probabilities = described.pop("distribution_probabilities")
        assert ours["attribute_description"][attribute].pop("distribution_probabilities") == (
            pytest.approx(probabilities, abs=1e-12)
        )
        assert ours["attribute_description"][attribute] == described, attribute
    # Candidates are enumerated in DataSynthesizer's order and the first best one wins in both,
    # so exact ties in mutual information resolve alike; only scores equal to within rounding
    # could part the two networks.
    assert ours["bayesian_network"] == expected["bayesian_network"]
    ours_flat, expected_flat = _probabilities(ours), _probabilities(expected)
    assert list(ours_flat) == list(expected_flat)
    for key, distribution in expected_flat.items():
        assert ours_flat[key] == pytest.approx(distribution, abs=1e-12), key


# --- With noise: DataSynthesizer's mechanisms ----------------------------------------------


@pytest.mark.parametrize(
    ("placed", "degree"),
    [
        # A binary parent (gender) alone, which lowers the sensitivity.
        ([c.GENDER], 1),
        # Two parents from three placed attributes; gender among the children.
        ([c.TIME_IN_AE, c.TREATMENT, c.HOSPITAL_ID], 2),
        ([c.AGE_BRACKET, c.GENDER, c.ARRIVAL_DATE, c.IMD_DECILE], 2),
    ],
)
def test_a_rounds_candidates_scores_and_choice_probabilities_are_datasynthesizers(
    training, placed, degree
):
    _, codes = privbayes.encode_training(with_time_binned(training, DOMAIN), DOMAIN)
    names = c.DEIDENTIFIED_COLUMNS
    placed_index = [names.index(name) for name in placed]
    remaining = [j for j in range(ATTRIBUTES) if j not in placed_index]
    candidates = privbayes.round_candidates(placed_index, remaining, degree)
    information = privbayes.candidate_information(codes, candidates)
    binary = privbayes.binary_attributes(codes)
    ours = privbayes.exponential_mechanism(
        information, candidates, binary, len(training), ATTRIBUTES, 0.5
    )

    # DataSynthesizer's own round, on the same bin indices as its greedy search sees them.
    frame = pd.DataFrame(codes, columns=names).astype(str)
    parent_count = min(len(placed), degree)
    tasks = [
        (child, placed, parent_count, split, frame)
        for child, split in product(
            [names[j] for j in remaining], range(len(placed) - parent_count + 1)
        )
    ]
    results = [PrivBayes.worker(task) for task in tasks]
    pairs = [pair for result in results for pair in result[0]]
    scores = [score for result in results for score in result[1]]
    is_binary = {name: frame[name].unique().size <= 2 for name in names}
    expected = PrivBayes.exponential_mechanism(
        0.5, scores, pairs, is_binary, len(training), ATTRIBUTES
    )

    assert [(names[child], [names[p] for p in parents]) for child, parents in candidates] == pairs
    assert binary == [is_binary[name] for name in names]
    assert information == pytest.approx(scores, rel=1e-9, abs=1e-12)
    assert ours == pytest.approx(expected, rel=1e-9)


def test_noise_scales_and_noisy_tables_are_datasynthesizers(training, monkeypatch):
    """Record every Laplace draw DataSynthesizer makes, and compare with the engine's scales."""
    draws = []
    laplace = np.random.laplace

    def recording_laplace(loc=0.0, scale=1.0, size=None):
        draws.append((scale, size))
        return laplace(loc, scale, size)

    monkeypatch.setattr(np.random, "laplace", recording_laplace)
    reference = describe(training, _parameters("datasynthesizer", epsilon=1.0, degree=2))
    monkeypatch.undo()

    # DataSynthesizer is given its share of ε, and one public record (see synthesise.py).
    rows, degree, given = len(training) + 1, 2, DATASYNTHESIZER_CORRELATED_SHARE
    bins = {
        name: len(info["distribution_bins"])
        for name, info in reference["attribute_description"].items()
    }
    # DataSynthesizer's tables span the codes the data holds, up to the highest one seen:
    # with the public record of every last value, the whole declared domain.
    seen = dict(zip(c.DEIDENTIFIED_COLUMNS, DOMAIN.sizes, strict=True))
    network = reference["bayesian_network"]
    first_table = [network[0][1][0], *(child for child, _ in network[:degree])]
    expected = [
        *((privbayes.marginal_noise_scale(rows, ATTRIBUTES, given), bins[name]) for name in bins),
        (
            privbayes.table_noise_scale(ATTRIBUTES, degree + 1, given / 2),
            int(np.prod([seen[name] for name in first_table])),
        ),
        *(
            (
                privbayes.table_noise_scale(ATTRIBUTES, len(parents) + 1, given / 2),
                int(np.prod([seen[name] for name in [*parents, child]])),
            )
            for child, parents in network[degree:]
        ),
    ]
    assert [size for _, size in draws] == [size for _, size in expected]
    assert [scale for scale, _ in draws] == pytest.approx([scale for scale, _ in expected])


def test_table_noise_is_laplace_at_datasynthesizers_scale(training):
    """Noisy counts minus true counts, on cells large enough never to be clipped at zero."""
    _, codes = privbayes.encode_training(with_time_binned(training, DOMAIN), DOMAIN)
    sizes = codes.max(axis=0) + 1
    attributes = [
        c.DEIDENTIFIED_COLUMNS.index(c.GENDER),
        c.DEIDENTIFIED_COLUMNS.index(c.AGE_BRACKET),
    ]
    exact = privbayes.noisy_counts(codes, attributes, sizes, 0.0, np.random.default_rng(0))
    large = exact > 200
    rng = np.random.default_rng(11)
    residuals = np.concatenate(
        [
            (privbayes.noisy_counts(codes, attributes, sizes, 0.5, rng) - exact)[large]
            for _ in range(2_000)
        ]
    )
    scale = PrivBayes.laplace_noise_parameter(len(attributes) - 1, ATTRIBUTES, len(training), 0.5)
    assert large.sum() >= 6
    assert stats.kstest(residuals, stats.laplace(scale=scale).cdf).pvalue > 1e-3
    # A scale 20% off is rejected: the test can tell.
    assert stats.kstest(residuals, stats.laplace(scale=1.2 * scale).cdf).pvalue < 1e-3


def _mean_distances(training: pd.DataFrame, synthetic: pd.DataFrame) -> tuple[float, float]:
    """Mean total variation distance of every 1-way and every 2-way marginal."""
    coded = code_frames([training, synthetic], time_bin_edges(training[c.TIME_IN_AE]))
    training_marginals, synthetic_marginals = (
        marginals(codes, coded.binned_sizes) for codes in coded.binned
    )
    figures, _ = marginal_figures(training_marginals, synthetic_marginals, associated=[])
    return figures[("tvd_1way_mean", "")], figures[("tvd_2way_mean", "")]


def test_with_noise_synthetic_data_are_as_faithful_as_datasynthesizers(training):
    """Mean 1-way and 2-way TVD to the training data, over seeds, for each engine.

    Each engine's seeds give a spread of distances (the noisy network choice and the noisy
    tables); the two means must agree within 4 standard errors of their difference. Too much
    noise or too little shows: with the tables' noise scale doubled or halved, the means move
    by 5 to 7 standard errors (as written: 0.2 and 0.0). The mechanisms themselves are
    compared exactly by the tests above. Fixed seeds: the outcome is the same on every run.
    """
    degree = 1  # DataSynthesizer generates k = 2 far more slowly, from a per-combination filter.
    distances = {
        "datasynthesizer": np.array(
            [
                _mean_distances(
                    training,
                    generate(
                        describe(training, _parameters("datasynthesizer", 1.0, degree, seed)),
                        len(training),
                        _parameters("datasynthesizer", 1.0, degree, seed),
                    ),
                )
                for seed in range(100, 108)
            ]
        ),
        # The same algorithm, given the same share of ε as DataSynthesizer is.
        "fast": np.array(
            [
                _mean_distances(
                    training,
                    privbayes.generate_correlated(
                        privbayes.describe_correlated(
                            training,
                            DATASYNTHESIZER_CORRELATED_SHARE,
                            degree,
                            seed,
                            domain=DOMAIN,
                            accounting="datasynthesizer",
                        ),
                        len(training),
                        seed,
                        domain=DOMAIN,
                    ),
                )  # fmt: skip
                for seed in range(200, 224)
            ]
        ),
    }
    ours, reference = distances["fast"], distances["datasynthesizer"]
    difference = ours.mean(axis=0) - reference.mean(axis=0)
    standard_error = np.sqrt(
        ours.var(axis=0, ddof=1) / len(ours) + reference.var(axis=0, ddof=1) / len(reference)
    )
    assert (np.abs(difference) <= 4 * standard_error).all(), (difference, standard_error)


# --- Each generator reads the other engine's description ----------------------------------


def test_the_fast_generator_samples_a_datasynthesizer_description_faithfully(
    noiseless_reference,
):
    """Given the parents it drew, each attribute follows the description's table (chi-square
    on bin indices, with every expected count large: 25 times the training data's rows)."""
    description = noiseless_reference[2]
    rows = 100_000
    codes = privbayes.generate_encoded(description, rows, np.random.default_rng(5))
    bins = {
        name: len(info["distribution_bins"])
        for name, info in description["attribute_description"].items()
    }
    root = description["bayesian_network"][0][1][0]
    checks = [(root, [], {"": description["conditional_probabilities"][root]})]
    checks += [
        (child, parents, description["conditional_probabilities"][child])
        for child, parents in description["bayesian_network"]
    ]
    for child, parents, distributions in checks:
        parent_sizes = [bins[parent] for parent in parents]
        combination = np.ravel_multi_index([codes[p] for p in parents], parent_sizes)
        observed = np.bincount(
            combination * bins[child] + codes[child],
            minlength=int(np.prod(parent_sizes)) * bins[child],
        ).reshape(-1, bins[child])
        table = np.zeros_like(observed, dtype=float)
        for key, distribution in distributions.items():
            row = np.ravel_multi_index(json.loads(key), parent_sizes) if parents else 0
            table[row, : len(distribution)] = distribution
        expected = observed.sum(axis=1, keepdims=True) * table
        assert not observed[expected == 0].any(), f"{child}: a value of probability 0 drawn"
        cells = expected > 0
        statistic = ((observed[cells] - expected[cells]) ** 2 / expected[cells]).sum()
        freedom = (cells.sum(axis=1) - 1)[observed.sum(axis=1) > 0].clip(0).sum()
        assert stats.chi2.sf(statistic, freedom) > 1e-4, child


def test_the_fast_generator_returns_the_deidentified_schema_from_either_engine(
    training, noiseless_reference
):
    for description in (noiseless_reference[1], describe(training, _parameters("fast"))):
        synthetic = generate(description, 2_000, _parameters("fast"))
        synthetic_schema("correlated").validate(synthetic, lazy=True)
        assert synthetic.dtypes.to_dict() == training.dtypes.to_dict()


def test_datasynthesizer_generates_from_a_fast_description(training):
    """DataSynthesizer's generator reads the fast engine's k = 2 description (through a JSON
    file, as from the lake), and its records sit as close to the fast generator's as two
    samples of the fast generator sit to each other: the two means, over independent pairs
    of samples, agree within 4 standard errors of their difference."""
    description = json.loads(json.dumps(describe(training, _parameters("fast", 1.0, 2, seed=8))))
    rows, pairs = 1_500, 6
    ours = [
        generate(description, rows, _parameters("fast", seed=seed)) for seed in range(2 * pairs)
    ]
    theirs = [
        generate(description, rows, _parameters("datasynthesizer", seed=seed))
        for seed in range(pairs)
    ]
    synthetic_schema("correlated").validate(theirs[0], lazy=True)
    between_ours = np.array([_mean_distances(ours[i], ours[pairs + i])[1] for i in range(pairs)])
    between_engines = np.array([_mean_distances(ours[i], theirs[i])[1] for i in range(pairs)])
    error = np.sqrt(between_ours.var(ddof=1) / pairs + between_engines.var(ddof=1) / pairs)
    assert abs(between_engines.mean() - between_ours.mean()) <= 4 * error, (
        between_engines,
        between_ours,
    )


# --- Seeds, inputs and wiring --------------------------------------------------------------


def test_the_same_seed_gives_the_same_description_and_data_and_another_seed_different(
    training,
):
    first = describe(training, _parameters("fast", seed=21))
    assert describe(training, _parameters("fast", seed=21)) == first
    assert describe(training, _parameters("fast", seed=22)) != first
    data = generate(first, 3_000, _parameters("fast", seed=21))
    pd.testing.assert_frame_equal(generate(first, 3_000, _parameters("fast", seed=21)), data)
    assert not generate(first, 3_000, _parameters("fast", seed=22)).equals(data)


@pytest.mark.parametrize(
    ("epsilon", "degree", "message"),
    [
        (1.0, 0, "k must be at least 1 and below the number of attributes \\(8\\), got 0"),
        (1.0, ATTRIBUTES, "k must be at least 1 and below the number of attributes"),
        (-1.0, 2, "epsilon must be 0 \\(no noise\\) or positive, got -1.0"),
        (float("nan"), 2, "epsilon must be 0 \\(no noise\\) or positive, got nan"),
    ],
)
def test_bad_parameters_are_refused_with_the_rule_broken(training, epsilon, degree, message):
    parameters = _parameters("fast", epsilon, degree, seed=4)
    with pytest.raises(SynthesisError, match=f"correlated mode .* fast engine: {message}"):
        describe(training, parameters)


def test_bad_training_data_and_descriptions_are_refused_with_the_reason(training):
    holed = training.copy()
    holed.loc[3, c.TREATMENT] = None
    with pytest.raises(SynthesisError, match="the training data has missing values"):
        describe(holed, _parameters("fast"))
    with pytest.raises(SynthesisError, match=r"lacks column\(s\) \['Gender'\]"):
        describe(training.drop(columns=c.GENDER), _parameters("fast"))
    with pytest.raises(SynthesisError, match="at least 2 rows"):
        describe(training.head(1), _parameters("fast"))
    description = describe(training, _parameters("fast"))
    with pytest.raises(SynthesisError, match="rows to synthesise must be at least 1"):
        generate(description, 0, _parameters("fast"))
    with pytest.raises(SynthesisError, match="lacks 'conditional_probabilities'"):
        generate(
            {k: v for k, v in description.items() if k != "conditional_probabilities"},
            10,
            _parameters("fast"),
        )
    child = description["bayesian_network"][-1][0]
    description["conditional_probabilities"][child] = {"[np.int64(0)]": [1.0]}
    with pytest.raises(SynthesisError, match=f"{child}: conditional probability keys must be"):
        generate(description, 10, _parameters("fast"))
    with pytest.raises(SynthesisError, match="engine must be one of"):
        SynthesisParameters("correlated", 1.0, 2, 1, "turbo", domain=DOMAIN)


def test_the_engine_is_part_of_the_versions_of_every_mode_it_runs():
    fast, reference = Settings(engine="fast"), Settings(engine="datasynthesizer")
    for mode in MODES:
        for version in (description_version, synthetic_version):
            assert (version(fast, mode) != version(reference, mode)) == (mode != "aim")


# --- Random and independent modes ----------------------------------------------------------


def _histogram_parameters(
    mode: str, engine: Engine, epsilon: float = 1.0, seed: int = 1
) -> SynthesisParameters:
    return SynthesisParameters(mode, epsilon, 1, seed, engine, domain=DOMAIN)


def _distributions(description: dict) -> dict[str, np.ndarray]:
    """Each attribute's 1-way distribution; an all-zero one (DataSynthesizer's random mode
    writes an integer attribute's so) read as uniform, as every generator reads it."""
    return {
        name: privbayes.normalise(np.asarray(info["distribution_probabilities"], dtype=float))
        for name, info in description["attribute_description"].items()
    }


@pytest.mark.parametrize(("mode", "epsilon"), [("random", 1.0), ("independent", 0.0)])
def test_without_noise_random_and_independent_descriptions_are_datasynthesizers(
    training, mode, epsilon
):
    ours = describe(training, _histogram_parameters(mode, "fast", epsilon))
    theirs = describe(training, _histogram_parameters(mode, "datasynthesizer", epsilon))
    assert ours["meta"] == theirs["meta"]
    assert list(ours["attribute_description"]) == list(theirs["attribute_description"])
    for name, info in ours["attribute_description"].items():
        reference = theirs["attribute_description"][name]
        for field in ("name", "data_type", "is_categorical", "is_candidate_key", "missing_rate"):
            assert info[field] == reference[field], (name, field)
        assert info["distribution_bins"] == reference["distribution_bins"], name
    for name, distribution in _distributions(ours).items():
        np.testing.assert_allclose(distribution, _distributions(theirs)[name], atol=1e-12)


def test_random_mode_on_the_fast_engine_reads_nothing_of_the_data(training):
    """Its description is the same for any training data, its text attributes' shortest and
    longest lengths the declared values' (DataSynthesizer takes them from the data)."""
    parameters = _histogram_parameters("random", "fast")
    description = describe(training, parameters)
    assert describe(training.head(40), parameters) == description
    for name, info in description["attribute_description"].items():
        declared = DOMAIN.values(name)
        if info["data_type"] == "String":
            assert (info["min"], info["max"]) == (
                min(map(len, declared)),
                max(map(len, declared)),
            )
        else:
            assert (info["min"], info["max"]) == (min(declared), max(declared))
    assert description["privacy_ledger"]["charges"] == []


def test_independent_noise_has_half_datasynthesizers_spread(training):
    """Over 300 seeds at ε = 1 the spread of the Female share is b/n, for Laplace noise of
    scale b = d/ε on each count (its normalisation over two values halves the variance of
    the two draws); DataSynthesizer's scale, 2d/ε, would give twice that spread. The standard
    deviation of 300 Laplace draws is estimated to about 6 %."""
    epsilon, seeds = 1.0, 300
    shares = np.array(
        [
            describe(training, _histogram_parameters("independent", "fast", epsilon, seed))[
                "attribute_description"
            ][c.GENDER]["distribution_probabilities"][0]
            for seed in range(seeds)
        ]
    )
    expected = (ATTRIBUTES / epsilon) / len(training)
    assert shares.std(ddof=1) == pytest.approx(expected, rel=0.25)
    counts = training[c.GENDER].value_counts()
    assert shares.mean() == pytest.approx(counts["Female"] / len(training), abs=4 * expected / 17)


def test_the_fast_generator_samples_random_and_independent_descriptions_faithfully(training):
    """Each attribute of 60,000 records follows its distribution in a description written by
    either engine (chi-square on bin indices), and no attribute depends on another."""
    rows = 60_000
    for mode, engine in product(("random", "independent"), ("fast", "datasynthesizer")):
        description = describe(training, _histogram_parameters(mode, engine))
        synthetic = generate(description, rows, _histogram_parameters(mode, "fast", seed=9))
        synthetic_schema(mode).validate(synthetic, lazy=True)
        assert synthetic.dtypes.to_dict() == training.dtypes.to_dict()
        binned = with_time_binned(synthetic, DOMAIN)
        for name, distribution in _distributions(description).items():
            bins = description["attribute_description"][name]["distribution_bins"]
            observed = binned[name].value_counts().reindex(bins, fill_value=0).to_numpy()
            cells = distribution > 0
            assert not observed[~cells].any(), f"{mode}/{engine} {name}: a value of share 0"
            expected = rows * distribution[cells]
            statistic = ((observed[cells] - expected) ** 2 / expected).sum()
            assert stats.chi2.sf(statistic, cells.sum() - 1) > 1e-4, (mode, engine, name)
        table = pd.crosstab(synthetic[c.AGE_BRACKET], synthetic[c.TREATMENT])
        assert stats.chi2_contingency(table).pvalue > 1e-4, (mode, engine)


def test_the_same_seed_gives_the_same_random_and_independent_data(training):
    for mode in ("random", "independent"):
        description = describe(training, _histogram_parameters(mode, "fast", seed=3))
        assert describe(training, _histogram_parameters(mode, "fast", seed=3)) == description
        first, again, other = (
            generate(description, 500, _histogram_parameters(mode, "fast", seed=seed))
            for seed in (4, 4, 5)
        )
        pd.testing.assert_frame_equal(first, again)
        assert not first.equals(other)
    noisy = [
        describe(training, _histogram_parameters("independent", "fast", seed=seed))
        for seed in (3, 4)
    ]
    assert noisy[0] != noisy[1]
