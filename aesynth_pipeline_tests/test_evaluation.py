"""The evaluation report on a real run at the defaults: every metric for every mode with its
floor or its real-data reference, figures recomputed independently from the lake, the
release verdict and the recommendation."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency
from sklearn.metrics import normalized_mutual_info_score

from aesynth_pipeline import columns as c
from aesynth_pipeline.assets.keys import (
    DISCLOSURE_RISK,
    EVALUATION_REPORT,
    RELEASE_GATE_CHECK,
    RELEASE_RULE_CHECK_PREFIX,
    VERDICT_METADATA,
)
from aesynth_pipeline.domain import utility
from aesynth_pipeline.domain.disclosure import anonymity, disclosure_risk
from aesynth_pipeline.domain.encoding import (
    block_keys,
    code_frames,
    column_combinations,
    counting_plan,
    marginal_counts,
    marginal_shares,
    time_bin_edges,
)
from aesynth_pipeline.domain.evaluate import evaluate
from aesynth_pipeline.domain.fidelity import (
    DEFAULT_ASSOCIATION_THRESHOLD,
    SDMETRICS_SAMPLE_ROWS,
    _silenced,
    counted_marginals,
    marginals,
    sdmetrics_figures,
)
from aesynth_pipeline.domain.gate import (
    PRIVACY_RULES,
    RULES,
    GateThresholds,
    marginal_judgements,
    release_gate,
)
from aesynth_pipeline.domain.metrics import (
    FIDELITY,
    METRICS,
    PRIVACY,
    SIZE,
    TRAINING_MODE,
    UTILITY,
    names,
)
from aesynth_pipeline.domain.modes import MODE_SPECS, MODES, Promise, promises
from aesynth_pipeline.domain.privacy import (
    DCR_CANDIDATE_ROWS,
    DCR_SAMPLE_ROWS,
    closest_distances,
    distinct_sorted,
)
from aesynth_pipeline.domain.utility import CLASSIFIER_SAMPLE_ROWS

from .conftest import Run, materialise_pipeline

ASSOCIATED = {f"{c.TIME_IN_AE} × {c.AGE_BRACKET}", f"{c.ARRIVAL_DATE} × {c.ARRIVAL_HOUR_RANGE}"}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    return materialise_pipeline(tmp_path_factory.mktemp("evaluation"), pseudonym_key="k")


@pytest.fixture(scope="module")
def metrics(run) -> pd.DataFrame:
    return run.read("evaluation_report")


def no_violations(*modes: str) -> dict[str, float]:
    return dict.fromkeys(modes, 0.0)


@pytest.mark.parametrize("mode", MODES)
def test_the_metrics_table_has_every_catalogued_metric_for_every_mode(metrics, mode):
    rows = metrics[metrics["mode"] == mode]
    for family in (FIDELITY, UTILITY, PRIVACY, SIZE):
        expected = set(names(family)) | set(names(family, per_combination=True))
        assert set(rows.loc[rows["family"] == family, "metric"]) == expected, family
    assert (rows["metric"] == "tvd_1way").sum() == len(c.DEIDENTIFIED_COLUMNS)
    assert (rows["metric"] == "tvd_2way").sum() == 28  # every pair of the eight columns
    assert rows["value"].notna().all()


def test_every_fidelity_figure_has_a_floor_and_its_excess_and_the_others_a_reference(metrics):
    per_mode = metrics[metrics["mode"].isin(MODES)]
    fidelity = per_mode[per_mode["family"] == FIDELITY]
    assert fidelity[["floor", "floor_spread", "excess"]].notna().all().all()
    assert fidelity["reference"].isna().all(), "the hold-out is no fidelity yardstick"
    direction = fidelity["metric"].map(lambda m: -1 if METRICS[m].higher_is_better else 1)
    assert np.allclose(fidelity["excess"], direction * (fidelity["value"] - fidelity["floor"]))
    others = per_mode[per_mode["family"].isin([UTILITY, PRIVACY])]
    assert others["reference"].notna().all()
    assert others["floor"].isna().all()


def bootstrap_tvd_2way_mean(training: pd.DataFrame, first, second) -> float:
    """Mean 2-way TVD between two row samples of the training data, computed with pandas
    on the report's time bins."""
    edges = time_bin_edges(training[c.TIME_IN_AE])
    labelled = training.astype(str).assign(
        **{c.TIME_IN_AE: pd.cut(training[c.TIME_IN_AE], edges, right=False).astype(str)}
    )
    a, b = labelled.iloc[first], labelled.iloc[second]
    distances = []
    for pair in itertools.combinations(c.DEIDENTIFIED_COLUMNS, 2):
        shares_a = a.groupby(list(pair)).size() / len(a)
        shares_b = b.groupby(list(pair)).size() / len(b)
        distances.append(0.5 * shares_a.sub(shares_b, fill_value=0).abs().sum())
    return float(np.mean(distances))


def test_the_floor_is_two_independent_samples_of_the_training_distribution(run, metrics):
    training = run.read("deidentified_train")
    n = len(training)
    row = metrics[(metrics["mode"] == "correlated") & (metrics["metric"] == "tvd_2way_mean")]
    floor, spread = float(row["floor"].iloc[0]), float(row["floor_spread"].iloc[0])
    rng = np.random.default_rng(2024)
    independent = [
        bootstrap_tvd_2way_mean(training, rng.integers(n, size=n), rng.integers(n, size=n))
        for _ in range(5)
    ]
    # Recomputed by other means with other seeds: the same floor within sampling error.
    assert abs(np.mean(independent) - floor) < 4 * spread
    # A resample compared with the training data itself shares its rows, and would make the
    # floor far too low (0.042 against 0.062 here).
    against_itself = [
        bootstrap_tvd_2way_mean(training, np.arange(n), rng.integers(n, size=n)) for _ in range(5)
    ]
    assert np.mean(against_itself) < floor - 10 * spread


def test_associated_pairs_are_found_with_the_bias_corrected_cramers_v(run, metrics):
    associations = metrics[metrics["mode"] == TRAINING_MODE].set_index("columns")["value"]
    assert set(associations[associations > DEFAULT_ASSOCIATION_THRESHOLD].index) == ASSOCIATED
    training = run.read("deidentified_train")
    # Recomputed with scipy's chi-square and Bergsma's correction, for an unrelated pair of
    # many-valued columns, whose uncorrected V is sampling noise alone.
    table = pd.crosstab(training[c.TREATMENT], training[c.HOSPITAL_ID]).to_numpy()
    n, (r, k) = table.sum(), table.shape
    phi2 = chi2_contingency(table, correction=False)[0] / n
    uncorrected = np.sqrt(phi2 / (min(r, k) - 1))
    corrected = np.sqrt(
        max(0, phi2 - (k - 1) * (r - 1) / (n - 1))
        / min(k - (k - 1) ** 2 / (n - 1) - 1, r - (r - 1) ** 2 / (n - 1) - 1)
    )
    assert associations[f"{c.TREATMENT} × {c.HOSPITAL_ID}"] == pytest.approx(corrected)
    assert uncorrected > DEFAULT_ASSOCIATION_THRESHOLD / 2 > corrected


def summary_rows(run) -> dict[str, str]:
    summary = run.metadata(EVALUATION_REPORT)["summary"]
    return {line.split(" | ")[0].strip("| "): line for line in summary.splitlines()}


def test_at_the_defaults_the_verdict_separates_the_modes_and_recommends_one(run, metrics):
    table = metrics.set_index(["mode", "metric"])
    associated = table.xs("tvd_2way_associated_mean", level="metric")
    # Independent mode drops the relations: far above its floor on the associated pairs,
    # while the mode recommended, which keeps them, stays close to it.
    recommended = run.metadata(EVALUATION_REPORT)["recommended mode"]
    assert MODE_SPECS[recommended].promise == Promise.RELATIONS
    assert associated.loc["independent", "excess"] > 5 * associated.loc[recommended, "excess"]
    verdict = run.metadata(EVALUATION_REPORT)[VERDICT_METADATA]
    by_mode = {entry["mode"]: entry for entry in verdict["modes"]}
    assert all(by_mode[mode]["passed"] for mode in ("random", "independent", recommended))
    assert set(by_mode["independent"]["loses"].split("; ")) == ASSOCIATED
    assert by_mode[recommended]["loses"] == "nothing"
    assert verdict["recommendation"] == recommended
    relations = summary_rows(run)["independent"].split(" | ")[3]  # mode, promises, columns
    assert relations.startswith("🔴 poor")
    excess = associated.loc[recommended, "excess"]
    html = (run.lake / "reports" / "evaluation_report.html").read_text(encoding="utf-8")
    assert f"Recommended for release: {recommended} mode" in html
    assert f"{excess:+.3f}" in html or f"({excess:+.3f})" in html


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

    pair = [c.TREATMENT, c.HOSPITAL_ID]  # in the order of the columns
    real = training.groupby(pair).size() / len(training)
    fake = synthetic.groupby(pair).size() / len(synthetic)
    by_hand = 0.5 * real.sub(fake, fill_value=0).abs().sum()
    assert table[("correlated", "tvd_2way", " × ".join(pair))] == pytest.approx(by_hand)


def test_mutual_information_recomputed_with_sklearn_matches_the_table(run, metrics):
    training = run.read("deidentified_train")
    synthetic = run.read("synthetic_correlated")
    table = metrics.set_index(["mode", "metric", "columns"])["value"]
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
    coded = code_frames([training], edges)
    ours = marginals(coded.binned[0], coded.binned_sizes).information
    pd.testing.assert_frame_equal(ours, expected)
    gap = (sklearn_matrix(synthetic) - expected).abs().to_numpy()
    off_diagonal = gap[~np.eye(len(gap), dtype=bool)].mean()
    assert table[("correlated", "nmi_mean_abs_difference", "")] == pytest.approx(off_diagonal)


def test_beyond_the_sample_sizes_figures_come_from_stated_samples(run):
    # Copies of each dataset: larger than every sample, with known exact answers.
    training, holdout = run.read("deidentified_train"), run.read("deidentified_holdout")
    synthetic = run.read("synthetic_correlated")
    repeats = -(-SDMETRICS_SAMPLE_ROWS // len(training)) + 1

    def enlarged(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.concat([frame] * repeats, ignore_index=True)

    large = evaluate(
        enlarged(training), enlarged(holdout), {"copy": enlarged(synthetic)},
        no_violations("copy"), seed=1,
    ).metrics  # fmt: skip
    small = evaluate(training, holdout, {"copy": synthetic}, no_violations("copy"), seed=1).metrics
    sizes = large[large["family"] == SIZE].set_index("metric")
    assert sizes.loc["records", "value"] == repeats * len(synthetic)
    assert sizes.loc["sdmetrics_sample", ["value", "reference"]].tolist() == [
        SDMETRICS_SAMPLE_ROWS, SDMETRICS_SAMPLE_ROWS
    ]  # fmt: skip
    assert sizes.loc["classifier_sample", "value"] == CLASSIFIER_SAMPLE_ROWS
    assert sizes.loc["distance_sample", "value"] == DCR_SAMPLE_ROWS
    assert sizes.loc["distance_candidates", "value"] == DCR_CANDIDATE_ROWS

    # Exact figures do not change when every record is repeated; sampled ones stay close.
    by_metric = {
        name: frame[frame["family"] != SIZE].set_index(["mode", "metric", "columns"])["value"]
        for name, frame in (("large", large), ("small", small))
    }
    exact = ["tvd_1way_mean", "tvd_2way_mean", "tvd_2way_associated_mean", "exact_match_rate",
             "nmi_mean_abs_difference"]  # fmt: skip
    for metric in exact:
        key = ("copy", metric, "")
        assert by_metric["large"][key] == pytest.approx(by_metric["small"][key])
    for metric in ("column_shapes", "column_pair_trends_all_pairs", "long_stay_roc_auc"):
        column = c.TIME_IN_AE if metric == "long_stay_roc_auc" else ""
        key = ("copy", metric, column)
        assert by_metric["large"][key] == pytest.approx(by_metric["small"][key], abs=0.03)


def test_a_copy_of_the_training_data_fails_the_privacy_rules(run):
    training, holdout = run.read("deidentified_train"), run.read("deidentified_holdout")
    copied = evaluate(training, holdout, {"copy": training.copy()}, no_violations("copy"), 1)
    gate = release_gate(copied.metrics, GateThresholds(), {"copy": Promise.RELATIONS})
    verdicts = gate.set_index("rule")["passed"]
    assert not verdicts[list(PRIVACY_RULES)].any()
    # A copy is perfectly faithful: privacy, not fidelity, is what stops it.
    assert verdicts.drop(list(PRIVACY_RULES)).all()


def test_one_blocking_release_gate_passes_on_a_default_run_beside_a_check_per_rule(run, metrics):
    checks = run.checks()
    assert checks[(EVALUATION_REPORT, RELEASE_GATE_CHECK)] is True
    # Each rule's own check reports every mode it judges; a mode that breaks it is not
    # released, but the run goes on to release another.
    gate = release_gate(metrics, GateThresholds(), promises())
    for rule in RULES:
        passed = bool(gate.loc[gate["rule"] == rule, "passed"].all())
        assert checks[(EVALUATION_REPORT, f"{RELEASE_RULE_CHECK_PREFIX}{rule}")] is passed


def test_with_no_tolerance_the_noisy_modes_fail_and_the_reason_names_the_column(metrics):
    strict = GateThresholds(tolerance_1way=0, tolerance_2way=0, standard_errors=0)
    gate = release_gate(metrics, strict, promises())
    failed = gate[~gate["passed"]]
    assert {"independent", "correlated"} <= set(failed["mode"])
    assert set(failed["mode"]) <= set(MODES)
    for row in failed.itertuples():
        if row.rule in ("column_distributions", "associated_pairs"):
            assert row.reason.startswith(f"{row.columns}: TVD")
            assert row.columns in set(metrics["columns"])
    # Random mode promises only its schema: no marginal rule judges it.
    assert set(gate.loc[gate["mode"] == "random", "rule"]) == {"schema_and_domains", *PRIVACY_RULES}


def test_the_traffic_lights_follow_the_rules(run, metrics):
    judgements = marginal_judgements(metrics, GateThresholds())
    rows = summary_rows(run)
    for mode in MODES:
        cells = rows[mode].split(" | ")
        for position, rule in ((2, "column_distributions"), (3, "associated_pairs")):
            judged = judgements[(judgements["mode"] == mode) & (judgements["rule"] == rule)]
            assert ("good" in cells[position]) == bool(judged["kept"].all()), (mode, rule)


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


def test_the_disclosure_risk_is_its_own_asset_of_the_deidentified_table(run):
    stored = run.read("deidentified_disclosure_risk")
    expected = disclosure_risk(run.read("hospital_ae_deidentified"))
    pd.testing.assert_frame_equal(stored, expected)
    assert run.metadata(DISCLOSURE_RISK)["k-anonymity"] >= 1
    html = (run.lake / "reports" / "evaluation_report.html").read_text(encoding="utf-8")
    assert "Privacy of the de-identified data itself" in html


def random_codes(rows: int, sizes: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Skewed, so that the marginals are far from uniform and many cells stay empty.
    return np.column_stack([(rng.random(rows) ** 3 * size).astype(np.int32) for size in sizes])


@pytest.mark.parametrize("rows", [0, 1, 500, 20_000])
def test_marginals_summed_from_blocks_equal_counting_each_combination(rows):
    sizes = (10, 39, 2, 10, 26, 7, 6, 6)
    codes = random_codes(rows, sizes, seed=rows)
    assert len(counting_plan(sizes).blocks) == 14  # each triple of 8 columns in one block
    shares = marginal_shares(codes, sizes)
    assert list(shares) == column_combinations()
    for combination, share in shares.items():
        positions = [c.DEIDENTIFIED_COLUMNS.index(name) for name in combination]
        shape = tuple(sizes[j] for j in positions)
        cells = np.ravel_multi_index(tuple(codes[:, j] for j in positions), shape)
        counted = np.bincount(cells, minlength=int(np.prod(shape))).reshape(shape)
        np.testing.assert_array_equal(share, counted / max(rows, 1))


def test_a_resample_weighted_by_draws_has_the_marginals_of_the_drawn_records():
    sizes = (10, 39, 2, 10, 26, 7, 6, 6)
    codes = random_codes(3_000, sizes, seed=1)
    plan = counting_plan(sizes)
    drawn = np.random.default_rng(2).integers(len(codes), size=1_234)
    weights = np.bincount(drawn, minlength=len(codes)).astype(float)
    weighted = counted_marginals(
        marginal_counts(block_keys(codes, plan), plan, weights=weights), len(drawn)
    )
    copied = marginals(codes[drawn], sizes)
    for combination, share in copied.shares.items():
        np.testing.assert_array_equal(weighted.shares[combination], share)
    pd.testing.assert_frame_equal(weighted.information, copied.information)


def sdmetrics_reports(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict:
    """The figures read from SDMetrics' own reports: its quality report at its default
    thresholds and at 0, and its diagnostic report."""
    from sdmetrics.reports import DiagnosticReport, QualityReport

    tables = [{"attendances": frame[c.DEIDENTIFIED_COLUMNS]} for frame in (real, synthetic)]
    metadata = {
        "tables": {
            "attendances": {
                "columns": {
                    column: {"sdtype": "numerical" if column == c.TIME_IN_AE else "categorical"}
                    for column in c.DEIDENTIFIED_COLUMNS
                }
            }
        }
    }
    default, all_pairs, diagnostic = QualityReport(), QualityReport(), DiagnosticReport()
    all_pairs.real_association_threshold = all_pairs.real_correlation_threshold = 0
    with _silenced():
        for report in (default, all_pairs, diagnostic):
            report.generate(*tables, metadata, verbose=False)
    scores = default.get_properties().set_index("Property")["Score"]
    figures = {
        ("quality_score", ""): default.get_score(),
        ("column_shapes", ""): scores["Column Shapes"],
        ("column_pair_trends", ""): scores["Column Pair Trends"],
        ("column_pair_trends_all_pairs", ""): all_pairs.get_properties()
        .set_index("Property")
        .loc["Column Pair Trends", "Score"],
        ("table_structure", ""): diagnostic.get_details("Data Structure")["Score"].iloc[0],
    }
    for row in diagnostic.get_details("Data Validity").itertuples():
        metric = "boundary_adherence" if row.Metric == "BoundaryAdherence" else "category_adherence"
        figures[(metric, row.Column)] = row.Score
    return figures


def test_sdmetrics_figures_are_those_of_its_own_reports(run):
    training = run.read("deidentified_train")
    rng = np.random.default_rng(5)
    # Without relations in the real data no pair meets SDMetrics' threshold: NaN pair trends.
    unrelated = pd.DataFrame({k: rng.permutation(v.to_numpy()) for k, v in training.items()})
    comparisons = [(training, run.read(f"synthetic_{mode}")) for mode in MODES] + [
        (training.iloc[rng.integers(len(training), size=900)], training.iloc[:700]),
        (unrelated, training),
    ]
    for real, synthetic in comparisons:
        ours, theirs = sdmetrics_figures(real, synthetic), sdmetrics_reports(real, synthetic)
        assert list(ours) == list(theirs)
        for key, value in theirs.items():
            # Summed in another order: equal to the last bits of a float.
            np.testing.assert_allclose(ours[key], value, rtol=1e-12, atol=1e-12, err_msg=key)
    assert np.isnan(ours[("column_pair_trends", "")])


@pytest.mark.parametrize("rows", [0, 1, 1_000])
def test_distinct_keys_by_sorting_are_numpys_unique_keys(rows):
    keys = np.random.default_rng(rows).integers(0, 300, size=rows)
    np.testing.assert_array_equal(distinct_sorted(keys), np.unique(keys))


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


def test_the_html_report_is_self_contained_for_the_data_controller(run, metrics):
    html = (run.lake / "reports" / "evaluation_report.html").read_text(encoding="utf-8")
    audience = html.index("For the data controller only, not for publication")
    assert audience < html.index("<h2>Summary</h2>")
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


def test_the_asset_metadata_shows_the_summary_verdict_and_recommendation(run):
    metadata = run.metadata(EVALUATION_REPORT)
    for mode in MODES:
        assert f"| {mode} |" in metadata["summary"]
    recommended = metadata["recommended mode"]
    assert recommended in MODES
    assert f"Recommended for release: {recommended} mode" in metadata["summary"]
    assert [entry["mode"] for entry in metadata[VERDICT_METADATA]["modes"]] == list(MODES)
    assert str(metadata["report (HTML)"]).endswith("evaluation_report.html")


def test_the_classifiers_score_the_same_on_one_thread_as_on_a_thread_per_core(run, monkeypatch):
    # The report runs small samples on one thread (utility.ONE_THREAD_BELOW_ROWS): only the
    # time may depend on it, never a figure.
    training, holdout = run.read("deidentified_train"), run.read("deidentified_holdout")
    synthetic = run.read("synthetic_random")
    threshold = float(training[c.TIME_IN_AE].median())
    scores = {}
    for below in (0, len(training) + 1):
        monkeypatch.setattr(utility, "ONE_THREAD_BELOW_ROWS", below)
        scores[below] = [
            utility.utility_scores(frame, holdout, threshold, seed=3)
            for frame in (training, synthetic)
        ]
    assert scores[0] == scores[len(training) + 1]


@pytest.fixture(scope="module")
def realistic_metrics(tmp_path_factory) -> pd.DataFrame:
    """Every mode on the realistic mock, at the defaults; the report is written whether the
    gate releases a mode or not."""
    run = materialise_pipeline(
        tmp_path_factory.mktemp("realistic"),
        raise_on_error=False,
        pseudonym_key="k",
        mock_profile="realistic",
    )
    return run.read("evaluation_report")


def test_on_the_realistic_profile_the_modes_that_keep_relations_keep_them(realistic_metrics):
    metrics = realistic_metrics
    associations = metrics[metrics["metric"] == "cramers_v"].set_index("columns")["value"]
    assert (associations > DEFAULT_ASSOCIATION_THRESHOLD).sum() >= 8
    excess = metrics[metrics["metric"] == "tvd_2way"].pivot(
        index="columns", columns="mode", values="excess"
    )
    # Independent mode drops every relation; the modes that keep relations keep the
    # strongest, treatment by age band, within half of independent mode's excess.
    strongest = associations.idxmax()
    assert strongest == f"{c.TREATMENT} × {c.AGE_BRACKET}"
    for mode in MODES:
        if MODE_SPECS[mode].promise == Promise.RELATIONS:
            assert excess.loc[strongest, mode] < excess.loc[strongest, "independent"] / 2, mode
    mean = metrics[metrics["metric"] == "tvd_2way_associated_mean"].set_index("mode")["excess"]
    assert mean["aim"] < 0.8 * mean["independent"]
