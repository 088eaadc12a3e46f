"""The evaluation report on a real run: every metric for every mode, against the hold-out."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from aesynth_pipeline import columns as c
from aesynth_pipeline.assets.keys import EVALUATION_REPORT
from aesynth_pipeline.domain.evaluate import (
    GATE_RULES,
    GateThresholds,
    anonymity,
    closest_distances,
    evaluate,
    release_gate,
)
from aesynth_pipeline.domain.synthesise import MODES

from .conftest import Run, materialise_pipeline

# What the report promises for every synthetic dataset, named as in the metrics table.
PER_MODE_METRICS = {
    "fidelity": {
        "quality_score", "column_shapes", "column_pair_trends", "column_pair_trends_all_pairs",
        "boundary_adherence", "category_adherence", "table_structure", "tvd_1way", "tvd_2way",
        "tvd_1way_mean", "tvd_1way_max", "tvd_2way_mean", "tvd_2way_max", "tvd_3way_mean",
        "tvd_3way_max", "nmi_mean_abs_difference",
    },
    "utility": {"age_bracket_macro_f1", "age_bracket_macro_f1_ratio", "long_stay_roc_auc",
                "long_stay_roc_auc_ratio"},
    "privacy": {"exact_match_rate", "dcr_median", "dcr_closer_to_training_share",
                "unique_combination_reappearance"},
}  # fmt: skip
DEIDENTIFIED_METRICS = {"k_anonymity", "share_in_small_groups", "share_unique",
                        "l_diversity_treatment"}  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    return materialise_pipeline(tmp_path_factory.mktemp("evaluation"), pseudonym_key="k")


@pytest.fixture(scope="module")
def metrics(run) -> pd.DataFrame:
    return run.read("evaluation_report")


@pytest.mark.parametrize("mode", MODES)
def test_the_metrics_table_has_every_metric_for_every_mode(metrics, mode):
    for family, expected in PER_MODE_METRICS.items():
        rows = metrics[(metrics["mode"] == mode) & (metrics["family"] == family)]
        assert set(rows["metric"]) == expected, family
    detail = metrics[metrics["mode"] == mode]
    assert (detail["metric"] == "tvd_1way").sum() == len(c.DEIDENTIFIED_COLUMNS)
    assert (detail["metric"] == "tvd_2way").sum() == 28  # every pair of the eight columns
    assert detail["value"].notna().all()


def test_the_deidentified_data_is_scored_on_both_quasi_identifier_sets(metrics):
    own = metrics[metrics["mode"] == "deidentified"]
    assert set(own["metric"]) == DEIDENTIFIED_METRICS
    assert set(own["columns"]) == {"quasi-identifiers", "quasi-identifiers + Arrival Date"}
    with_date = own.set_index(["metric", "columns"])["value"]
    assert (
        with_date[("share_unique", "quasi-identifiers + Arrival Date")]
        >= with_date[("share_unique", "quasi-identifiers")]
    )


def test_hold_out_reference_values_are_present(metrics):
    per_mode = metrics[metrics["mode"].isin(MODES) & (metrics["family"] != "size")]
    assert per_mode["reference"].notna().all()
    quality = per_mode[per_mode["metric"] == "quality_score"]
    assert (quality["reference"] > 0.8).all(), "unseen real data resembles the training data"


def test_correlated_beats_independent_on_the_worst_pair_and_independent_beats_random(metrics):
    def figure(mode: str, metric: str) -> float:
        row = metrics[(metrics["mode"] == mode) & (metrics["metric"] == metric)]
        return float(row["value"].iloc[0])

    assert figure("correlated", "tvd_2way_max") < figure("independent", "tvd_2way_max")
    assert figure("independent", "tvd_2way_mean") < figure("random", "tvd_2way_mean")
    assert figure("correlated", "age_bracket_macro_f1_ratio") > figure(
        "independent", "age_bracket_macro_f1_ratio"
    )


def test_figures_recomputed_from_the_lake_match_the_table(run, metrics):
    training = run.read("deidentified_train")
    synthetic = run.read("synthetic_correlated")
    seen = set(training.itertuples(index=False, name=None))
    copies = sum(row in seen for row in synthetic.itertuples(index=False, name=None))
    table = metrics.set_index(["mode", "metric", "columns"])["value"]
    assert table[("correlated", "exact_match_rate", "")] == pytest.approx(copies / len(synthetic))

    real = training[c.GENDER].value_counts(normalize=True)
    fake = synthetic[c.GENDER].value_counts(normalize=True)
    by_hand = 0.5 * sum(
        abs(real.get(v, 0) - fake.get(v, 0)) for v in set(real.index) | set(fake.index)
    )
    assert table[("correlated", "tvd_1way", c.GENDER)] == pytest.approx(by_hand)


def test_a_copy_of_the_training_data_fails_the_privacy_gate(run):
    training, holdout = run.read("deidentified_train"), run.read("deidentified_holdout")
    copied = evaluate(training, holdout, {"copy": training.copy()}, seed=1)
    gate = release_gate(copied, GateThresholds()).set_index("rule")
    assert not gate.loc["exact_matches", "passed"]
    assert not gate.loc["distance_to_closest_record", "passed"]
    honest = release_gate(run.read("evaluation_report"), GateThresholds())
    assert honest["passed"].all()


def test_the_release_gate_runs_as_blocking_checks_that_pass_on_a_default_run(run):
    checks = run.checks()
    for rule in GATE_RULES:
        assert checks[(EVALUATION_REPORT, f"release_gate_{rule}")] is True


def test_a_stricter_gate_fails_and_names_the_mode(run):
    gate = release_gate(run.read("evaluation_report"), GateThresholds(max_tvd_2way_correlated=0.01))
    failed = gate[~gate["passed"]]
    assert failed[["mode", "rule"]].values.tolist() == [["correlated", "fidelity"]]


def test_k_anonymity_of_a_hand_made_table_matches_the_hand_count():
    # Three groups on (Gender, Age bracket): 6 records with 3 treatments, 4 with 1, 2 with 2.
    frame = pd.DataFrame(
        {
            c.GENDER: ["Male"] * 6 + ["Female"] * 4 + ["Male"] * 2,
            c.AGE_BRACKET: ["0-17"] * 6 + ["0-17"] * 4 + ["85-"] * 2,
            c.TREATMENT: ["Eye", "Eye", "Splint", "Splint", "Tetanus", "Eye",
                          "Eye", "Eye", "Eye", "Eye", "Sutures", "Splint"],
        }
    )  # fmt: skip
    result = anonymity(frame, [c.GENDER, c.AGE_BRACKET])
    assert result.k_anonymity == 2
    assert result.share_in_small_groups == pytest.approx(6 / 12)  # the groups of 4 and 2
    assert result.share_unique == 0
    assert result.l_diversity_treatment == 1
    alone = anonymity(frame.iloc[:7], [c.GENDER, c.AGE_BRACKET])
    assert (alone.k_anonymity, alone.share_unique) == (1, pytest.approx(1 / 7))


def test_distance_to_closest_record_counts_mismatches_and_scaled_time():
    base = {column: ["x"] for column in c.DEIDENTIFIED_COLUMNS} | {c.TIME_IN_AE: [60]}
    record = pd.DataFrame(base)
    others = pd.DataFrame(
        {column: ["x", "y"] for column in c.DEIDENTIFIED_COLUMNS} | {c.TIME_IN_AE: [80, 60]}
    )
    # First other: same categories, 20 of a 100-minute range apart -> 0.2 / 8.
    # Second: seven categories differ, same time -> 7 / 8.
    assert closest_distances(record, others, time_range=100)[0] == pytest.approx(0.2 / 8)
    assert closest_distances(record, record, time_range=100)[0] == 0


def test_the_html_report_is_self_contained_with_summary_plots_and_every_metric(run, metrics):
    html = (run.lake / "reports" / "evaluation_report.html").read_text(encoding="utf-8")
    assert "<h2>Summary</h2>" in html
    assert not re.search(r"""(src|href)=["']https?:""", html)
    images = re.findall(r'<img [^>]*src="data:image/png;base64,', html)
    assert len(images) == 2 + len(MODES) * (1 + len(c.DEIDENTIFIED_COLUMNS))
    for metric in metrics["metric"].unique():
        assert metric in html, metric
    assert "smaller ε" in html
    markdown = (run.lake / "reports" / "evaluation_report.md").read_text(encoding="utf-8")
    linked = re.findall(r"\]\((evaluation_report_figures/[^)]+\.png)\)", markdown)
    assert len(linked) == len(images)
    assert all((run.lake / "reports" / path).is_file() for path in linked)


def test_the_asset_metadata_shows_the_summary_and_the_gate(run):
    metadata = run.metadata(EVALUATION_REPORT)
    for mode in MODES:
        assert f"| {mode} |" in metadata["summary"]
    assert metadata["release gate"] == "pass"
    assert str(metadata["report (HTML)"]).endswith("evaluation_report.html")
    assert np.isfinite(metadata["metrics"])
