"""The evaluation report on a real run: every metric for every mode, against the hold-out."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import normalized_mutual_info_score

from aesynth_pipeline import columns as c
from aesynth_pipeline.assets.keys import EVALUATION_REPORT
from aesynth_pipeline.domain.evaluate import (
    CLASSIFIER_SAMPLE_ROWS,
    DCR_CANDIDATE_ROWS,
    DCR_SAMPLE_ROWS,
    GATE_RULES,
    SDMETRICS_SAMPLE_ROWS,
    GateThresholds,
    anonymity,
    closest_distances,
    evaluate,
    normalised_mutual_information,
    release_gate,
    time_bin_edges,
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


def test_pair_distances_and_mutual_information_recomputed_with_pandas_and_sklearn(run, metrics):
    training = run.read("deidentified_train")
    synthetic = run.read("synthetic_correlated")
    table = metrics.set_index(["mode", "metric", "columns"])["value"]

    pair = [c.TREATMENT, c.HOSPITAL_ID]  # in the order of the columns
    real = training.groupby(pair).size() / len(training)
    fake = synthetic.groupby(pair).size() / len(synthetic)
    by_hand = 0.5 * real.sub(fake, fill_value=0).abs().sum()
    assert table[("correlated", "tvd_2way", " × ".join(pair))] == pytest.approx(by_hand)

    # Time in A&E cut into the report's ten bins, labels as strings, then scikit-learn's NMI.
    edges = time_bin_edges(training[c.TIME_IN_AE])

    def sklearn_matrix(frame: pd.DataFrame) -> pd.DataFrame:
        labels = frame.astype(str).assign(
            **{c.TIME_IN_AE: pd.cut(frame[c.TIME_IN_AE], edges, right=False).astype(str)}
        )
        matrix = pd.DataFrame(1.0, index=c.DEIDENTIFIED_COLUMNS, columns=c.DEIDENTIFIED_COLUMNS)
        for first, second in itertools.combinations(c.DEIDENTIFIED_COLUMNS, 2):
            score = normalized_mutual_info_score(labels[first], labels[second])
            matrix.loc[first, second] = matrix.loc[second, first] = score
        return matrix

    expected = sklearn_matrix(training)
    pd.testing.assert_frame_equal(normalised_mutual_information(training, edges), expected)
    gap = (sklearn_matrix(synthetic) - expected).abs().to_numpy()
    off_diagonal = gap[~np.eye(len(gap), dtype=bool)].mean()
    assert table[("correlated", "nmi_mean_abs_difference", "")] == pytest.approx(off_diagonal)


def test_beyond_the_sample_sizes_figures_come_from_stated_samples(run):
    # Eight copies of each dataset: larger than every sample, with known exact answers.
    training, holdout = run.read("deidentified_train"), run.read("deidentified_holdout")
    synthetic = run.read("synthetic_correlated")
    repeats = -(-SDMETRICS_SAMPLE_ROWS // len(training)) + 1

    def enlarged(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.concat([frame] * repeats, ignore_index=True)

    large = evaluate(enlarged(training), enlarged(holdout), {"copy": enlarged(synthetic)}, seed=1)
    small = evaluate(training, holdout, {"copy": synthetic}, seed=1)
    sizes = large[large["family"] == "size"].set_index("metric")
    assert sizes.loc["records", "value"] == repeats * len(synthetic)
    assert sizes.loc["sdmetrics_sample", ["value", "reference"]].tolist() == [
        SDMETRICS_SAMPLE_ROWS, SDMETRICS_SAMPLE_ROWS
    ]  # fmt: skip
    assert sizes.loc["classifier_sample", "value"] == CLASSIFIER_SAMPLE_ROWS
    assert sizes.loc["distance_sample", "value"] == DCR_SAMPLE_ROWS
    assert sizes.loc["distance_candidates", "value"] == DCR_CANDIDATE_ROWS

    # Exact figures do not change when every record is repeated; sampled ones stay close.
    by_metric = {
        name: frame[frame["family"] != "size"].set_index(["metric", "columns"])["value"]
        for name, frame in (("large", large), ("small", small))
    }
    exact = ["tvd_1way_mean", "tvd_2way_mean", "tvd_3way_max", "exact_match_rate",
             "nmi_mean_abs_difference"]  # fmt: skip
    for metric in exact:
        assert by_metric["large"][(metric, "")] == pytest.approx(by_metric["small"][(metric, "")])
    for metric in ("column_shapes", "column_pair_trends_all_pairs", "long_stay_roc_auc"):
        column = c.TIME_IN_AE if metric == "long_stay_roc_auc" else ""
        assert by_metric["large"][(metric, column)] == pytest.approx(
            by_metric["small"][(metric, column)], abs=0.03
        )


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
    training_records = len(run.read("deidentified_train"))
    assert f"with {training_records:,} training records, because it compares every pair" in html
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
