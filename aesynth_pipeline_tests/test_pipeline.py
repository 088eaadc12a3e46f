"""The pipeline materialised for real into temporary lakes: determinism, metadata, guards."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from aesynth_pipeline import columns as c
from aesynth_pipeline.assets.keys import (
    DEIDENTIFIED,
    DEIDENTIFIED_HOLDOUT,
    DEIDENTIFIED_TRAIN,
    DISCLOSURE_RISK,
    EVALUATION_REPORT,
    HOSPITAL_AE_DATA,
    HOSPITAL_AE_DATA_LSOA,
    HOSPITAL_AE_QUARANTINE,
    HOSPITAL_AE_REJECTED,
    LONDON_POSTCODES,
    description_key,
    synthetic_key,
)
from aesynth_pipeline.checks import schema_result
from aesynth_pipeline.definitions import build_assets, build_definitions
from aesynth_pipeline.domain.deidentify import NO_IMD_RANK
from aesynth_pipeline.domain.generate import HOSPITALS
from aesynth_pipeline.domain.modes import MODES, modes_using
from aesynth_pipeline.lake import PSEUDONYM_KEY_FILE
from aesynth_pipeline.settings import Settings

from .conftest import FOUNDATION, Run, materialise_pipeline
from .doogal import DOOGAL_HEADER, doogal_frame, write_doogal_csv

ALL_KEYS = [LONDON_POSTCODES, HOSPITAL_AE_DATA, HOSPITAL_AE_REJECTED, HOSPITAL_AE_DATA_LSOA,
            HOSPITAL_AE_QUARANTINE, DEIDENTIFIED]  # fmt: skip
SYNTHESIS_KEYS = [
    DEIDENTIFIED_TRAIN,
    DEIDENTIFIED_HOLDOUT,
    *(key(mode) for mode in MODES for key in (description_key, synthetic_key)),
]
EVALUATION_KEYS = [DISCLOSURE_RISK, EVALUATION_REPORT]
ASSET_FILES = {
    LONDON_POSTCODES: ("london_postcodes",),
    HOSPITAL_AE_DATA: ("raw", "hospital_ae_data"),
    HOSPITAL_AE_REJECTED: ("raw", "hospital_ae_rejected"),
    HOSPITAL_AE_DATA_LSOA: ("raw", "hospital_ae_data_lsoa"),
    HOSPITAL_AE_QUARANTINE: ("raw", "hospital_ae_quarantine"),
    DEIDENTIFIED: ("hospital_ae_deidentified",),
}


def test_definitions_load_with_every_asset_documented_and_versioned(tmp_path):
    defs = build_definitions(Settings(data_lake=str(tmp_path)))
    dg.Definitions.validate_loadable(defs)
    for assets_def in build_assets(Settings(data_lake=str(tmp_path))):
        for key in assets_def.keys:
            spec = assets_def.specs_by_key[key]
            assert spec.group_name and spec.group_name != "default", key
            assert spec.kinds, key
            assert spec.code_version, key
            assert spec.description, key
    keys = {key for a in build_assets(Settings()) for key in a.keys}
    assert keys == {*ALL_KEYS, *SYNTHESIS_KEYS, *EVALUATION_KEYS}


def test_same_seed_gives_identical_data_and_another_seed_different(materialise):
    first = materialise("a", rows=3_000, seed=7, pseudonym_key="k", selection=FOUNDATION)
    again = materialise("b", rows=3_000, seed=7, pseudonym_key="k", selection=FOUNDATION)
    other = materialise("c", rows=3_000, seed=8, pseudonym_key="k", selection=FOUNDATION)
    for key, parts in ASSET_FILES.items():
        if key in (HOSPITAL_AE_QUARANTINE, HOSPITAL_AE_REJECTED):
            continue  # empty with a generated directory and the mock
        pd.testing.assert_frame_equal(first.read(*parts), again.read(*parts))
        assert not first.read(*parts).equals(other.read(*parts)), key


def test_every_asset_reports_row_count_and_column_schema(pipeline_100k):
    for key, parts in ASSET_FILES.items():
        metadata = pipeline_100k.metadata(key)
        assert metadata["dagster/row_count"] == len(pipeline_100k.read(*parts)), key
        schema = metadata["dagster/column_schema"]
        assert [column.name for column in schema.columns] == list(
            pipeline_100k.read(*parts).columns
        )


def test_rows_reconcile_across_join_gender_rule_and_quarantine(pipeline_100k):
    metadata = pipeline_100k.metadata(DEIDENTIFIED)
    raw = pipeline_100k.read("raw", "hospital_ae_data")
    deidentified = pipeline_100k.read("hospital_ae_deidentified")
    assert metadata["attendances in"] == len(raw)
    assert metadata["rows out"] == len(deidentified)
    assert metadata["rows out"] + metadata["removed by gender"] + metadata["quarantined"] == len(
        raw
    )
    assert metadata["removed by gender"] == (~raw[c.GENDER].isin(["Male", "Female"])).sum()
    # The check counts the raw attendances itself, from the file, reading no value of it.
    [reconciled] = [
        e
        for e in pipeline_100k.result.get_asset_check_evaluations()
        if e.check_name == "rows_reconcile"
    ]
    assert reconciled.metadata["raw rows"].value == len(raw)
    assert reconciled.metadata["unaccounted"].value == 0
    assert all(pipeline_100k.checks().values())
    assert len(pipeline_100k.checks()) == 9  # with the set-aside rows' schema and share


def test_deidentified_data_keeps_no_identifier(pipeline_100k):
    deidentified = pipeline_100k.read("hospital_ae_deidentified")
    raw = pipeline_100k.read("raw", "hospital_ae_data")
    assert list(deidentified.columns) == c.DEIDENTIFIED_COLUMNS
    cells = set(deidentified.astype(str).to_numpy().ravel())
    for column in (c.HEALTH_SERVICE_ID, c.POSTCODE, c.HOSPITAL, c.ATTENDANCE_ID):
        assert not cells & set(raw[column]), column
    assert deidentified[c.HOSPITAL_ID].nunique() == len(HOSPITALS)


def test_no_identifier_appears_in_any_metadata_or_log(pipeline_100k):
    raw = pipeline_100k.read("raw", "hospital_ae_data")
    identifiers = set(raw[c.HEALTH_SERVICE_ID]) | set(raw[c.POSTCODE]) | set(raw[c.HOSPITAL])
    identifiers |= set(raw[c.ARRIVAL_TIME].astype(str)) | set(raw[c.ATTENDANCE_ID])
    texts = []
    for event in pipeline_100k.result.all_events:
        texts.append(event.message or "")
        if event.is_step_materialization:
            texts.extend(str(v.value) for v in event.materialization.metadata.values())
    for evaluation in pipeline_100k.result.get_asset_check_evaluations():
        texts.extend(str(v.value) for v in evaluation.metadata.values())
    text = "\n".join(texts)
    leaked = [value for value in identifiers if value in text]
    assert not leaked, leaked[:5]


def test_a_changed_parameter_makes_exactly_the_assets_it_reaches_stale(tmp_path):
    def versions(**parameters):
        settings = Settings(data_lake=str(tmp_path), **parameters)
        return {
            key: assets_def.specs_by_key[key].code_version
            for assets_def in build_assets(settings)
            for key in assets_def.keys
        }

    def changed(**parameters):
        """The assets whose code version changes (among those both settings build)."""
        new = versions(**parameters)
        return {key for key, version in base.items() if key in new and new[key] != version}

    base = versions()
    downstream_of_mock_data = set(ALL_KEYS + SYNTHESIS_KEYS + EVALUATION_KEYS) - {LONDON_POSTCODES}
    assert changed(rows=500) == downstream_of_mock_data
    assert changed(mock_profile="realistic") == downstream_of_mock_data
    assert changed(pseudonym_key="another") == downstream_of_mock_data - {
        HOSPITAL_AE_DATA,
        HOSPITAL_AE_REJECTED,
        HOSPITAL_AE_DATA_LSOA,
        HOSPITAL_AE_QUARANTINE,
    }
    assert changed(seed=1) == set(ALL_KEYS + SYNTHESIS_KEYS + EVALUATION_KEYS)
    # The de-identified table's disclosure risk does not depend on how it is split or
    # synthesised.
    assert changed(holdout_share=0.3) == set(SYNTHESIS_KEYS) | {EVALUATION_REPORT}
    assert changed(bn_degree=2) == {
        description_key("correlated"),
        synthetic_key("correlated"),
        EVALUATION_REPORT,
    }
    assert changed(epsilon=0.5) == {
        *(key(mode) for mode in modes_using("epsilon") for key in (description_key, synthetic_key)),
        EVALUATION_REPORT,
    }
    # Choosing fewer modes changes what the report compares, not the datasets of the others.
    assert changed(modes=("random", "correlated")) == {EVALUATION_REPORT}
    for parameter in ("gate_tolerance_1way", "gate_tolerance_2way", "association_threshold"):
        assert changed(**{parameter: 0.2}) == {EVALUATION_REPORT}, parameter


def test_the_lake_keeps_one_pseudonym_key_so_hospital_ids_survive_reruns(tmp_path):
    first = materialise_pipeline(tmp_path, rows=2_000, seed=1, selection=FOUNDATION)
    key_file = tmp_path / "raw" / PSEUDONYM_KEY_FILE
    key = key_file.read_text()
    second = materialise_pipeline(tmp_path, rows=2_000, seed=1, selection=FOUNDATION)
    assert key_file.read_text() == key
    assert first.read("hospital_ae_deidentified").equals(second.read("hospital_ae_deidentified"))
    elsewhere = materialise_pipeline(tmp_path / "other", rows=2_000, seed=1, selection=FOUNDATION)
    assert not elsewhere.read("hospital_ae_deidentified")[c.HOSPITAL_ID].equals(
        first.read("hospital_ae_deidentified")[c.HOSPITAL_ID]
    )


def test_a_doogal_format_file_is_loaded_and_its_unranked_postcodes_quarantined(
    materialise, tmp_path
):
    frame = doogal_frame(postcode_count=400)
    in_use = frame.index[frame["In Use?"] == "Yes"]
    frame.loc[in_use[:8], "Index of Multiple Deprivation"] = ""
    path = write_doogal_csv(tmp_path / "London postcodes.csv", frame)

    run = materialise(rows=5_000, postcodes=str(path), selection=FOUNDATION)

    directory = run.read("london_postcodes")
    assert list(directory.columns) == c.POSTCODE_DIRECTORY_COLUMNS
    assert directory[c.POSTCODE].tolist() == frame["Postcode"].tolist()
    quarantined = run.read("raw", "hospital_ae_quarantine")
    raw = run.read("raw", "hospital_ae_data")
    unranked = set(frame.loc[in_use[:8], "Postcode"])
    assert len(quarantined) == raw[c.POSTCODE].isin(unranked).sum() > 0
    assert set(quarantined[c.QUARANTINE_REASON]) == {NO_IMD_RANK}
    metadata = run.metadata(DEIDENTIFIED)
    assert metadata["quarantined"] == len(quarantined)
    assert metadata["rows out"] + metadata["removed by gender"] + len(quarantined) == len(raw)
    assert run.metadata(LONDON_POSTCODES)["source"] == "file London postcodes.csv"


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda f: f.drop(columns=["LSOA Code"]), ["missing column", "LSOA Code"]),
        (lambda f: f.assign(Postcode=f["Postcode"].where(f.index != 3, "NOT A CODE")),
         ["'Postcode'", "NOT A CODE", "data rows [4]"]),
        (lambda f: f.assign(**{"Index of Multiple Deprivation": f["Index of Multiple Deprivation"]
                               .where(f.index != 5, "40000")}),
         ["'Index of Multiple Deprivation'", "40000", "1 to 32844"]),
        (lambda f: f.assign(**{"Index of Multiple Deprivation": f["Index of Multiple Deprivation"]
                               .where(f.index != 2, "high")}),
         ["'Index of Multiple Deprivation'", "high"]),
        (lambda f: pd.concat([f, f.iloc[[4]].assign(**{"LSOA Code": "E01999999"})]),
         ["'Postcode'", "appear once", "data rows [5, 401]"]),
    ],
    ids=["missing-column", "malformed-postcode", "rank-out-of-range", "rank-not-a-number",
         "duplicate-postcode"],
)  # fmt: skip
def test_a_bad_postcode_file_fails_naming_file_column_and_values(
    materialise, tmp_path, damage, expected
):
    path = write_doogal_csv(tmp_path / "bad postcodes.csv", damage(doogal_frame()))
    result = materialise(rows=1_000, postcodes=str(path), raise_on_error=False).result
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.cause.message
    for fragment in [str(path), *expected]:
        assert fragment in message
    assert not (tmp_path / "lake" / "london_postcodes.parquet").exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty"),
        (",".join(DOOGAL_HEADER).encode() + b"\n", "header but no postcodes"),
        (",".join(DOOGAL_HEADER).encode("latin-1") + b"\nE5 0QZ,Yes,\xa3" + b"," * 44 + b"\n",
         "not UTF-8 text (byte b'\\xa3'"),
    ],
    ids=["empty", "header-only", "latin-1"],
)  # fmt: skip
def test_an_unreadable_postcode_file_fails_naming_the_problem(
    materialise, tmp_path, content, expected
):
    path = tmp_path / "postcodes.csv"
    path.write_bytes(content)
    result = materialise(rows=1_000, postcodes=str(path), raise_on_error=False).result
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.cause.message
    assert str(path) in message and expected in message
    assert not (tmp_path / "lake" / "london_postcodes.parquet").exists()


def test_a_failed_blocking_check_stops_everything_downstream(materialise, tmp_path):
    frame = doogal_frame()
    # One LSOA with two different deprivation ranks: readable, but not a valid directory.
    frame.loc[1, "LSOA Code"] = frame.loc[0, "LSOA Code"]
    frame.loc[[0, 1], "Index of Multiple Deprivation"] = ["2", "1"]
    path = write_doogal_csv(tmp_path / "conflicting ranks.csv", frame)

    run = materialise(rows=1_000, postcodes=str(path), raise_on_error=False)

    assert run.checks() == {(LONDON_POSTCODES, "conforms_to_LondonPostcodes"): False}
    materialised = {e.asset_key for e in run.result.get_asset_materialization_events()}
    assert materialised == {LONDON_POSTCODES}
    assert not (run.lake / "raw").exists()
    [evaluation] = run.result.get_asset_check_evaluations()
    assert "an LSOA code has more than one IMD rank" in evaluation.metadata["broken rules"].value


def test_a_failed_run_leaves_the_existing_lake_untouched(materialise, tmp_path):
    good = materialise(rows=1_000, seed=5, selection=FOUNDATION)
    before = {path: path.read_bytes() for path in good.lake.rglob("*.parquet")}
    path = write_doogal_csv(tmp_path / "bad.csv", doogal_frame().drop(columns=["District"]))
    failed = materialise(
        rows=1_000, seed=5, postcodes=str(path), raise_on_error=False, selection=FOUNDATION
    )
    assert not failed.result.success
    assert {path: path.read_bytes() for path in good.lake.rglob("*.parquet")} == before
    assert not [p for p in good.lake.rglob("*") if p.name.endswith(".tmp")]


def test_a_directory_that_does_not_fit_the_data_stops_before_de_identification(
    materialise, tmp_path
):
    frame = doogal_frame(postcode_count=400)
    in_use = frame.index[frame["In Use?"] == "Yes"]
    frame.loc[in_use[: len(in_use) * 3 // 4], "Index of Multiple Deprivation"] = ""
    path = write_doogal_csv(tmp_path / "mostly unranked.csv", frame)

    run = materialise(rows=2_000, postcodes=str(path), raise_on_error=False)

    checks = run.checks()
    assert checks[(HOSPITAL_AE_QUARANTINE, "quarantine_share_within_limit")] is False
    materialised = {e.asset_key for e in run.result.get_asset_materialization_events()}
    assert DEIDENTIFIED not in materialised and HOSPITAL_AE_QUARANTINE in materialised
    [evaluation] = [
        e for e in run.result.get_asset_check_evaluations()
        if e.check_name == "quarantine_share_within_limit"
    ]  # fmt: skip
    assert evaluation.metadata["quarantined share"].value > 0.5
    assert "AESYNTH_MAX_QUARANTINE_SHARE" in evaluation.description


def test_an_unwritable_lake_fails_the_first_write_naming_the_file_and_the_variable(tmp_path):
    # Root may write anywhere, so the lake is made unwritable by being a file.
    occupied = tmp_path / "not a folder"
    occupied.write_text("someone else's file")
    run = materialise_pipeline(
        occupied / "lake", raise_on_error=False, selection=FOUNDATION, rows=1_000
    )
    assert not run.result.success
    assert not run.result.get_asset_materialization_events()
    [failure] = [e for e in run.result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.cause.message
    assert f"cannot write to the data lake at {occupied / 'lake'}: Not a directory" in message
    assert "AESYNTH_DATA_LAKE" in message
    assert occupied.read_text() == "someone else's file"


@pytest.fixture
def edited_lake(materialise) -> Run:
    """A lake whose training data had a column renamed by hand after it was written."""
    run = materialise(
        selection=FOUNDATION | dg.AssetSelection.assets(DEIDENTIFIED_TRAIN, DEIDENTIFIED_HOLDOUT),
        rows=1_000,
        pseudonym_key="k",
    )
    path = run.lake / "deidentified_train.parquet"
    pd.read_parquet(path).rename(columns={c.GENDER: "Sex"}).to_parquet(path, index=False)
    return run


def test_a_hand_edited_asset_is_refused_by_the_next_run_that_reads_it(edited_lake):
    path = edited_lake.lake / "deidentified_train.parquet"
    edited = path.read_bytes()
    rerun = materialise_pipeline(
        edited_lake.lake,
        raise_on_error=False,
        selection=dg.AssetSelection.assets(description_key("independent")),
        **{"rows": 1_000, "pseudonym_key": "k", "epsilon": 0.5},
    )
    [failure] = [e for e in rerun.result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.cause.message
    assert f"{path} does not have the columns of the HospitalAeDeidentified schema" in message
    assert f"missing column '{c.GENDER}'; unexpected column 'Sex'" in message
    assert not rerun.result.get_asset_materialization_events()
    assert not (edited_lake.lake / "description_independent.json").exists()
    assert path.read_bytes() == edited


def test_the_schema_check_names_each_rule_a_hand_edited_asset_breaks(edited_lake):
    # The check runs in its asset's step, on the frame the step stores; here it judges the
    # frame of the edited file.
    edited = pd.read_parquet(edited_lake.lake / "deidentified_train.parquet")
    result = schema_result(DEIDENTIFIED_TRAIN, edited)
    assert (result.passed, result.check_name) == (False, "conforms_to_HospitalAeDeidentified")
    broken = result.metadata["broken rules"].value
    assert "| Sex | column_in_schema | 1 |" in broken
    assert f"| {c.GENDER} | column_in_dataframe | 1 |" in broken
