"""Synthesis on real runs: every mode's files, seeds and parameters, and what a description
may hold."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from DataSynthesizer.DataGenerator import DataGenerator

from aesynth_pipeline import columns as c
from aesynth_pipeline.assets.keys import (
    DEIDENTIFIED_HOLDOUT,
    DEIDENTIFIED_TRAIN,
    description_key,
    synthetic_key,
)
from aesynth_pipeline.checks import network_problems
from aesynth_pipeline.definitions import build_assets, build_resources
from aesynth_pipeline.domain.attributes import SynthesisError, bayesian_network
from aesynth_pipeline.domain.encoding import code_frames, time_bin_edges
from aesynth_pipeline.domain.fidelity import marginals
from aesynth_pipeline.domain.modes import MODE_SPECS, MODES, modes_using
from aesynth_pipeline.domain.public_domain import (
    DomainError,
    codes,
    time_bins,
    with_time_bins_merged,
)
from aesynth_pipeline.domain.synthesise import SynthesisParameters, describe, generate
from aesynth_pipeline.schemas import synthetic_schema
from aesynth_pipeline.settings import Settings

from .conftest import SMALL_RUN, UP_TO_SYNTHESIS, Run, declared_domain, materialise_pipeline

ROWS = 6_000
DOMAIN = declared_domain()
# The modes whose descriptions are in DataSynthesizer's format, whichever engine writes them.
DATASYNTHESIZER_MODES = [mode for mode in MODES if MODE_SPECS[mode].engine is None]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    return materialise_pipeline(
        tmp_path_factory.mktemp("synthesis"),
        rows=ROWS,
        pseudonym_key="k",
        selection=UP_TO_SYNTHESIS,
    )


def test_train_and_holdout_split_the_deidentified_rows_once(run):
    deidentified = run.read("hospital_ae_deidentified")
    training, holdout = run.read("deidentified_train"), run.read("deidentified_holdout")
    assert len(training) + len(holdout) == len(deidentified)
    assert len(holdout) == round(0.2 * len(deidentified))
    combined = pd.concat([training, holdout]).sort_values(c.DEIDENTIFIED_COLUMNS)
    expected = deidentified.sort_values(c.DEIDENTIFIED_COLUMNS)
    pd.testing.assert_frame_equal(combined.reset_index(drop=True), expected.reset_index(drop=True))


def test_merging_time_bins_keeps_the_outer_edges():
    domain = replace(DOMAIN, time_edges=(1, 5, 9, 13, 17, 21, 1441))
    assert with_time_bins_merged(domain, 1) == domain
    assert with_time_bins_merged(domain, 2).time_edges == (1, 9, 17, 1441)
    assert with_time_bins_merged(domain, 3).time_edges == (1, 13, 1441)
    assert with_time_bins_merged(domain, 2).categories == domain.categories
    with pytest.raises(DomainError, match="at least 1"):
        with_time_bins_merged(domain, 0)


@pytest.mark.parametrize("mode", MODES)
def test_each_description_spans_its_modes_time_bins(run, mode):
    # The declared bins, merged as the mode merges them (correlated mode into wider bins).
    domain = with_time_bins_merged(DOMAIN, MODE_SPECS[mode].time_bins_merged)
    with open(run.lake / f"{description_key(mode).path[-1]}.json") as file:
        described = json.load(file)
    if mode == "aim":
        [time] = [a for a in described["attributes"] if a["name"] == c.TIME_IN_AE]
        assert time["size"] == len(DOMAIN.values(c.TIME_IN_AE))
    else:
        bins = described["attribute_description"][c.TIME_IN_AE]["distribution_bins"]
        assert bins == list(domain.as_json()[c.TIME_IN_AE])
    assert (len(domain.time_edges) < len(DOMAIN.time_edges)) == (mode == "correlated")


@pytest.mark.parametrize("mode", MODES)
def test_every_synthetic_dataset_has_the_deidentified_schema(run, mode):
    synthetic = run.read(f"synthetic_{mode}")
    training = run.read("deidentified_train")
    assert list(synthetic.columns) == c.DEIDENTIFIED_COLUMNS
    assert synthetic.dtypes.to_dict() == training.dtypes.to_dict()
    for column in (c.TREATMENT, c.GENDER, c.HOSPITAL_ID, c.ARRIVAL_DATE, c.AGE_BRACKET):
        assert synthetic[column].map(type).eq(str).all(), column
    assert len(synthetic) == len(training)
    synthetic_schema(mode).validate(synthetic, lazy=True)
    assert run.checks()[(synthetic_key(mode), f"conforms_to_{synthetic_schema(mode).__name__}")]


def test_random_mode_draws_every_value_uniformly_from_its_declared_domain(run):
    synthetic = run.read("synthetic_random")
    low, high = DOMAIN.time_bounds
    assert synthetic[c.TIME_IN_AE].between(low, high).all()
    # Each stay's bin is drawn uniformly, whatever the data: the long tail bin as often as
    # any quarter hour.
    bins = time_bins(synthetic, DOMAIN)
    assert np.bincount(bins, minlength=len(DOMAIN.values(c.TIME_IN_AE))).min() > 0
    for column in (c.TREATMENT, c.HOSPITAL_ID, c.AGE_BRACKET):
        assert set(synthetic[column]) == set(DOMAIN.values(column)), column


def test_same_seed_gives_identical_synthetic_data_and_another_seed_different(run, tmp_path):
    same = {"rows": ROWS, "pseudonym_key": "k", "selection": UP_TO_SYNTHESIS}
    again = materialise_pipeline(tmp_path / "again", **same)
    other = materialise_pipeline(tmp_path / "other", **same, seed=43)
    for mode in MODES:
        pd.testing.assert_frame_equal(
            run.read(f"synthetic_{mode}"), again.read(f"synthetic_{mode}")
        )
        assert (run.lake / f"description_{mode}.json").read_text() == (
            again.lake / f"description_{mode}.json"
        ).read_text()
        assert not run.read(f"synthetic_{mode}").equals(other.read(f"synthetic_{mode}"))


# What differential privacy's noise covers: everything else in a description must be public.
NOISY_FIELDS = {"distribution_probabilities", "conditional_probabilities", "bayesian_network"}


def _without_noisy_fields(description: dict) -> dict:
    return {
        "meta": description["meta"],
        "attributes": {
            name: {field: value for field, value in info.items() if field not in NOISY_FIELDS}
            for name, info in description["attribute_description"].items()
        },
    }


@pytest.mark.parametrize(
    ("mode", "engine"),
    [("random", "datasynthesizer"), ("independent", "datasynthesizer"),
     ("correlated", "datasynthesizer"), ("random", "fast"), ("independent", "fast"),
     ("correlated", "fast")],
)  # fmt: skip
def test_a_description_holds_no_exact_fact_of_the_training_data(run, mode, engine):
    training = run.read("deidentified_train").head(3_000)
    # Other records: fewer of them, without the longest and the shortest stays.
    extremes = [training[c.TIME_IN_AE].idxmax(), training[c.TIME_IN_AE].idxmin()]
    other = training.drop(index=extremes).head(2_000)
    parameters = SynthesisParameters(mode, 1.0, 1, seed=3, engine=engine, domain=DOMAIN)
    described, described_other = describe(training, parameters), describe(other, parameters)
    # Row count, extremes, category lists: nothing but the noisy parts depends on the data.
    assert _without_noisy_fields(described) == _without_noisy_fields(described_other)
    assert "num_tuples" not in described["meta"]
    for column, info in described["attribute_description"].items():
        assert info["distribution_bins"] == list(DOMAIN.as_json()[column]), column
    time = described["attribute_description"][c.TIME_IN_AE]
    assert (time["min"], time["max"]) == (DOMAIN.time_edges[0], DOMAIN.time_edges[-2])
    if mode == "correlated":
        # Every table spans the declared domain, so its shape says nothing of which values
        # occur (DataSynthesizer's own would stop at the highest value seen).
        sizes = dict(zip(c.DEIDENTIFIED_COLUMNS, DOMAIN.sizes, strict=True))
        for child, parents in described["bayesian_network"]:
            tables = described["conditional_probabilities"][child]
            assert len(tables) == np.prod([sizes[parent] for parent in parents]), child
            assert {len(table) for table in tables.values()} == {sizes[child]}, child


def test_an_aim_description_holds_noisy_measurements_and_declared_facts_only(run):
    training = run.read("deidentified_train").head(3_000)
    parameters = SynthesisParameters("aim", 1.0, 1, seed=3, domain=DOMAIN)
    described = describe(training, parameters)
    assert described["attributes"] == [
        {"name": column, "size": size}
        for column, size in zip(c.DEIDENTIFIED_COLUMNS, DOMAIN.sizes, strict=True)
    ]
    assert described["privacy"] | {"epsilon": 1.0, "delta": 1e-9} == described["privacy"]
    # The row count appears nowhere, not even as the model's estimate of it.
    assert not re.search(rf"(?<![\d.]){len(training)}(?![\d.])", json.dumps(described))
    exact = codes(training, DOMAIN)
    standardised = []
    for measurement in described["measurements"]:
        positions = [c.DEIDENTIFIED_COLUMNS.index(name) for name in measurement["clique"]]
        shape = [DOMAIN.sizes[j] for j in positions]
        counts = np.bincount(
            np.ravel_multi_index(tuple(exact[:, j] for j in positions), shape),
            minlength=int(np.prod(shape)),
        )
        noise = np.asarray(measurement["noisy_marginal"]) - counts
        assert (noise != 0).all(), measurement["clique"]
        standardised.extend(noise / measurement["sigma"])
    # Noise of the stated scale on every cell of every measurement: no count is exact.
    assert len(standardised) > 200
    assert abs(np.mean(standardised)) < 0.2
    assert 0.85 < np.std(standardised) < 1.15


@pytest.mark.parametrize("epsilon", [0.0, 1.0])
@pytest.mark.parametrize("degree", [1, 2])
def test_correlated_mode_works_with_and_without_noise_for_k_1_and_2(run, epsilon, degree):
    training = run.read("deidentified_train").head(3_000)
    parameters = SynthesisParameters("correlated", epsilon, degree, seed=5, domain=DOMAIN)
    description = describe(training, parameters)
    network = bayesian_network(description)
    assert network_problems(description, degree) == []
    assert max(len(parents) for _, parents in network) == degree
    synthetic = generate(description, 1_000, parameters)
    synthetic_schema("correlated").validate(synthetic, lazy=True)


@pytest.mark.parametrize("mode", DATASYNTHESIZER_MODES)
def test_datasynthesizer_generates_from_each_saved_description(run, mode, tmp_path):
    path = run.lake / f"description_{mode}.json"
    assert "np." not in path.read_text()
    generator = DataGenerator()
    method = {
        "random": generator.generate_dataset_in_random_mode,
        "independent": generator.generate_dataset_in_independent_mode,
        "correlated": generator.generate_dataset_in_correlated_attribute_mode,
    }[mode]
    method(250, str(path))
    assert len(generator.synthetic_dataset) == 250
    assert set(generator.synthetic_dataset.columns) == set(c.DEIDENTIFIED_COLUMNS)


def test_correlated_mode_keeps_the_age_time_dependency_better_than_independent(run):
    training = run.read("deidentified_train")
    edges = time_bin_edges(training[c.TIME_IN_AE])

    def age_time_information(frame: pd.DataFrame) -> float:
        coded = code_frames([frame], edges)
        matrix = marginals(coded.binned[0], coded.binned_sizes).information
        return matrix.loc[c.AGE_BRACKET, c.TIME_IN_AE]

    real = age_time_information(training)
    correlated = age_time_information(run.read("synthetic_correlated"))
    independent = age_time_information(run.read("synthetic_independent"))
    assert real > 0.2, "the mock data's strongest dependency"
    assert abs(correlated - real) < abs(independent - real)
    assert independent < 0.01


def test_metadata_shows_parameters_network_and_preview_but_no_training_figures(run):
    described = run.metadata(description_key("correlated"))
    assert described["mode"] == "correlated"
    assert described["epsilon"] == 1.0 and described["k (parents per node)"] == 1
    assert described["engine"] == run.settings.engine
    assert described["attributes"] == len(c.DEIDENTIFIED_COLUMNS)
    for column in c.DEIDENTIFIED_COLUMNS:
        assert f"**{column}**" in described["Bayesian network"]
    assert "epsilon" not in run.metadata(description_key("random"))
    for mode in MODES:
        synthesised = run.metadata(synthetic_key(mode))
        assert synthesised["rows"] == len(run.read(f"synthetic_{mode}"))
        assert synthesised["seconds taken"] >= 0
        assert synthesised["preview"].count("\n") == 11  # header, rule and ten rows
        # A synthetic dataset may be released; figures of the training data stay in the
        # data controller's report.
        assert not [name for name in synthesised if "heatmap" in name or "plot" in name]
    assert not list(run.lake.rglob("*.png"))
    assert run.metadata(DEIDENTIFIED_HOLDOUT)["dagster/row_count"] > 0
    assert run.metadata(DEIDENTIFIED_TRAIN)["hold-out share"] == 0.2


def test_only_the_chosen_modes_are_built_synthesised_and_evaluated(tmp_path):
    run = materialise_pipeline(tmp_path, modes=("random", "independent"), **SMALL_RUN)
    keys = {event.asset_key for event in run.result.get_asset_materialization_events()}
    assert {description_key("random"), synthetic_key("independent")} <= keys
    assert not {description_key("correlated"), synthetic_key("correlated")} & keys
    report = run.read("evaluation_report")
    assert set(report["mode"]) - {"training"} == {"random", "independent"}
    checks = {name for _, name in run.checks()}
    # Correlated mode's checks go with it: its network, and the rule only it is judged by.
    assert "network_covers_every_attribute" not in checks
    assert "release_rule_associated_pairs" not in checks
    assert "release_rule_column_distributions" in checks
    assert run.result.success


def test_changing_epsilon_makes_only_the_noisy_modes_stale(tmp_path):
    settings = Settings(data_lake=str(tmp_path), rows=2_000)
    with dg.instance_for_test() as instance:
        dg.materialize(
            build_assets(settings),
            resources=build_resources(settings),
            instance=instance,
            selection=UP_TO_SYNTHESIS,
        )
        changed = Settings(data_lake=str(tmp_path), rows=2_000, epsilon=0.5)
        stale, compared = set(), set()
        for assets_def in build_assets(changed):
            for key in assets_def.keys:
                event = instance.get_latest_materialization_event(key)
                if event is None:
                    continue
                compared.add(key.to_user_string())
                recorded = event.asset_materialization.tags["dagster/code_version"]
                if recorded != assets_def.specs_by_key[key].code_version:
                    stale.add(key.to_user_string())
    assert len(compared) == 9 + 2 * len(MODES)  # every asset but the evaluation report
    assert stale == {
        key(mode).to_user_string()
        for mode in modes_using("epsilon")
        for key in (description_key, synthetic_key)
    }


def test_datasynthesizer_errors_name_the_mode_and_parameters(run):
    parameters = SynthesisParameters("correlated", 1.0, 1, seed=9, domain=DOMAIN)
    description = json.loads((run.lake / "description_correlated.json").read_text())
    del description["conditional_probabilities"]
    with pytest.raises(SynthesisError, match=r"correlated mode \(epsilon 1.0, k 1, seed 9\)"):
        generate(description, 10, parameters)
    with pytest.raises(SynthesisError, match="k must be at least 1"):
        describe(
            run.read("deidentified_train"),
            SynthesisParameters("correlated", 1.0, 8, 9, domain=DOMAIN),
        )


def test_the_network_check_rejects_missing_attributes_and_extra_parents(run):
    description = json.loads((run.lake / "description_correlated.json").read_text())
    assert network_problems(description, 1) == []
    child, parents = description["bayesian_network"][-1]
    description["bayesian_network"][-1] = [child, [*parents, "Gender"]]
    assert network_problems(description, 1) == [f"nodes with more than k=1 parents: ['{child}']"]
    description["bayesian_network"] = description["bayesian_network"][:-1]
    assert "attributes missing from the network" in network_problems(description, 2)[0]
