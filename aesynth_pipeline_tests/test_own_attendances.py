"""Your own attendances: the data contract's every rule, the domain file, and a realistic
example extract run through the pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from aesynth_pipeline import columns as c
from aesynth_pipeline.assets.keys import (
    DEIDENTIFIED,
    HOSPITAL_AE_DATA,
    HOSPITAL_AE_REJECTED,
    description_key,
)
from aesynth_pipeline.domain import extract as contract_rules
from aesynth_pipeline.domain.contract import DomainFileError, read_domain_file
from aesynth_pipeline.domain.deidentify import hospital_pseudonyms
from aesynth_pipeline.domain.extract import (
    AttendanceFileError,
    read_extract,
    require_within_share,
)
from aesynth_pipeline.domain.geography import generate_postcode_directory
from aesynth_pipeline.domain.public_domain import public_domain
from aesynth_pipeline.lake import RAW_ZONE
from aesynth_pipeline.settings import Settings, SettingsError

from .conftest import FOUNDATION, SMALL_RUN, materialise_pipeline
from .example_extract import DOMAIN, EXAMPLE_DOMAIN_FILE, example_attendances, write_example
from .test_data_safety import file_bytes
from .test_launch import finished, instance_home, launch_command

ROWS = 200
LIMIT_VARIABLE = "AESYNTH_MAX_REJECTED_SHARE"


@pytest.fixture(scope="module")
def directory() -> pd.DataFrame:
    return generate_postcode_directory(seed=1, postcode_count=2_000)


@pytest.fixture(scope="module")
def good(directory) -> pd.DataFrame:
    """The example extract's rows as a CSV holds them: every value as text."""
    return (
        example_attendances(directory, ROWS)
        .astype({c.ARRIVAL_TIME: str})
        .astype(str)
        .reset_index(drop=True)
    )


def written(folder: Path, frame: pd.DataFrame, name: str = "attendances.csv") -> Path:
    path = folder / name
    frame.to_csv(path, index=False)
    return path


def broken(good: pd.DataFrame, column: str, values: list[str]) -> pd.DataFrame:
    """The good rows with the first few values of `column` replaced."""
    frame = good.copy()
    frame.loc[: len(values) - 1, column] = values
    return frame


def test_the_example_extract_keeps_the_contract_as_csv_and_as_parquet(tmp_path, directory):
    for suffix in (".csv", ".parquet"):
        path, rows = write_example(tmp_path / suffix[1:], directory, ROWS, suffix)
        extract = read_extract(str(path), DOMAIN)
        assert extract.rejected.empty and extract.rows_read == ROWS
        pd.testing.assert_frame_equal(extract.attendances, rows.reset_index(drop=True))


# Each row rule: the column, the values that break it, and the reason the row is set aside.
ROW_CASES = {
    "unparseable arrival time": (c.ARRIVAL_TIME, ["next Tuesday", "2024-03-04 25:00:00"],
                                 contract_rules.ARRIVAL_UNREADABLE),
    "arrival before the declared range": (c.ARRIVAL_TIME, ["2024-03-03 23:59:59"],
                                          contract_rules.ARRIVAL_OUTSIDE),
    "arrival after the declared range": (c.ARRIVAL_TIME, ["2024-03-18 00:00:00"],
                                         contract_rules.ARRIVAL_OUTSIDE),
    "negative age": (c.AGE, ["-1"], contract_rules.AGE_OUTSIDE),
    "age above 120": (c.AGE, ["121", "130"], contract_rules.AGE_OUTSIDE),
    "age not a number (wrong type)": (c.AGE, ["forty", "40.5"], contract_rules.AGE_NOT_WHOLE),
    "time in A&E of 0": (c.TIME_IN_AE, ["0", "-5"], contract_rules.TIME_OUTSIDE),
    "time in A&E above the bound": (c.TIME_IN_AE, ["1441"], contract_rules.TIME_OUTSIDE),
    "time in A&E not a number (wrong type)": (c.TIME_IN_AE, ["2h"],
                                              contract_rules.TIME_NOT_WHOLE),
    "gender not in the contract": (c.GENDER, ["Unknown", "male"],
                                   contract_rules.GENDER_UNDECLARED),
    "treatment not in the contract": (c.TREATMENT, ["Magic"],
                                      contract_rules.TREATMENT_UNDECLARED),
    "hospital not declared": (c.HOSPITAL, ["Barnet Hospital"],
                              contract_rules.HOSPITAL_UNDECLARED),
    "NHS number failing its check digit": (c.HEALTH_SERVICE_ID, ["999 000 0001"],
                                           contract_rules.NHS_CHECK_DIGIT),
    "NHS number not written NNN NNN NNNN": (c.HEALTH_SERVICE_ID, ["9990000001"],
                                            contract_rules.NHS_FORMAT),
    "postcode not a UK postcode": (c.POSTCODE, ["EC1 ZZZ"], contract_rules.POSTCODE_FORMAT),
}  # fmt: skip


@pytest.mark.parametrize("case", list(ROW_CASES))
def test_a_row_breaking_a_rule_is_set_aside_with_its_reason_and_counted(tmp_path, good, case):
    column, values, rule = ROW_CASES[case]
    path = written(tmp_path, broken(good, column, values))
    extract = read_extract(str(path), DOMAIN)
    assert extract.rejected[c.QUARANTINE_REASON].tolist() == [rule.reason] * len(values)
    assert extract.rejected[column].tolist() == values
    assert len(extract.attendances) + len(extract.rejected) == extract.rows_read == ROWS
    assert extract.rejected_by_reason()[rule.reason] == len(values)
    # Below the limit the rest goes on; above it the run stops, naming the file, the column,
    # the rule and the count, but no value.
    require_within_share(extract, 0.05, LIMIT_VARIABLE)
    with pytest.raises(AttendanceFileError) as stopped:
        require_within_share(extract, 0.0, LIMIT_VARIABLE)
    message = str(stopped.value)
    assert str(path) in message and LIMIT_VARIABLE in message
    assert f"column '{column}': {len(values)} row(s) ({rule.reason})" in message
    # (Values too short to tell apart from the counts are left out of this search.)
    shown = message.replace(str(path), "")
    assert not any(value in shown for value in values if len(value) >= 3)


def test_duplicate_attendance_ids_set_every_copy_aside(tmp_path, good):
    frame = broken(good, c.ATTENDANCE_ID, [good.loc[5, c.ATTENDANCE_ID]] * 2)
    extract = read_extract(str(written(tmp_path, frame)), DOMAIN)
    assert extract.rejected[c.QUARANTINE_REASON].tolist() == [contract_rules.ID_REPEATED.reason] * 3
    assert extract.attendances[c.ATTENDANCE_ID].is_unique
    assert len(extract.attendances) == ROWS - 3


def test_a_row_is_set_aside_for_the_first_rule_it_breaks(tmp_path, good):
    frame = good.copy()
    frame.loc[0, [c.AGE, c.GENDER]] = ["-3", "Other"]
    extract = read_extract(str(written(tmp_path, frame)), DOMAIN)
    assert extract.rejected[c.QUARANTINE_REASON].tolist() == [contract_rules.AGE_OUTSIDE.reason]


def file_error(location: Path | str) -> str:
    with pytest.raises(AttendanceFileError) as stopped:
        read_extract(str(location), DOMAIN)
    return str(stopped.value)


def test_a_missing_column_stops_naming_the_file_and_column(tmp_path, good):
    path = written(tmp_path, good.drop(columns=c.POSTCODE))
    message = file_error(path)
    assert message.startswith(f"{path}: missing column(s) ['{c.POSTCODE}']")


def test_an_extra_column_stops_naming_it(tmp_path, good):
    path = written(tmp_path, good.assign(**{"Date of Birth": "1970-01-01"}))
    message = file_error(path)
    assert message.startswith(f"{path}: column(s) not in the contract ['Date of Birth']")
    assert "1970-01-01" not in message


def test_a_parquet_column_of_the_wrong_type_stops_naming_column_type_and_rows(tmp_path, directory):
    path = tmp_path / "attendances.parquet"
    rows = example_attendances(directory, ROWS)
    rows.astype({c.AGE: str}).to_parquet(path, index=False)
    assert file_error(path) == (
        f"{path}: column '{c.AGE}' holds string, the contract says whole numbers ({ROWS} rows)"
    )
    rows.assign(**{c.ARRIVAL_TIME: rows[c.ARRIVAL_TIME].dt.tz_localize("UTC")}).to_parquet(path)
    assert f"column '{c.ARRIVAL_TIME}' holds timestamp[ns, tz=UTC]" in file_error(path)


def test_an_empty_or_header_only_file_stops(tmp_path, good):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert file_error(empty) == f"{empty}: the file is empty"
    header = written(tmp_path, good.head(0), "header.csv")
    assert file_error(header) == f"{header}: the file has a header but no attendances"


def test_a_file_that_is_not_utf8_stops_naming_the_position(tmp_path, good):
    path = tmp_path / "latin1.csv"
    path.write_bytes(good.to_csv(index=False).replace("Queen's", "Québec's").encode("latin-1"))
    message = file_error(path)
    assert message.startswith(f"{path}: not UTF-8 text") and "save it as UTF-8" in message


def test_a_missing_file_or_another_format_stops_naming_it(tmp_path):
    assert file_error(tmp_path / "nowhere.csv") == (
        f"{tmp_path / 'nowhere.csv'}: attendances file not found"
    )
    assert "ends in .csv or .parquet" in file_error(tmp_path / "attendances.xlsx")


def test_a_file_in_a_lake_url_is_read_like_a_local_one(good):
    from upath import UPath

    location = "memory://extracts/attendances.csv"
    UPath(location).write_text(good.to_csv(index=False))
    extract = read_extract(location, DOMAIN)
    assert extract.rows_read == ROWS and extract.rejected.empty


def test_the_documented_domain_file_reads_the_same_as_yaml_and_json(tmp_path):
    as_json = tmp_path / "domain.json"
    as_json.write_text(
        json.dumps(
            {
                "arrival_dates": {"first": "2024-03-04", "last": "2024-03-17"},
                "hospitals": list(DOMAIN.hospitals),
                "longest_stay_minutes": 1440,
            }
        )
    )
    assert read_domain_file(as_json) == read_domain_file(EXAMPLE_DOMAIN_FILE) == DOMAIN
    assert len(DOMAIN.arrival_dates) == 14 and len(DOMAIN.hospitals) == 5


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("hospitals: [A]\n", "arrival_dates: Field required"),
        ("arrival_dates: {first: 2024-03-04, last: 2024-03-01}\nhospitals: [A]\n",
         "arrival_dates.last is before arrival_dates.first"),
        ("arrival_dates: {first: 2024-03-04, last: 2024-03-05}\nhospitals: [A, A]\n",
         "hospitals lists 1 value(s) more than once"),
        ("arrival_dates: {first: 2024-03-04, last: 2024-03-05}\nhospitals: [A]\n"
         "genders: [Female, Unknown]\n", "genders must include ['Male', 'Female']"),
        ("arrival_dates: {first: 2024-03-04, last: 2024-03-05}\nhospitals: [A]\nwards: [B]\n",
         "wards: Extra inputs are not permitted"),
        ("arrival_dates: [unclosed\n", "cannot be read"),
    ],
)  # fmt: skip
def test_a_bad_domain_file_stops_naming_the_file_and_entry(tmp_path, content, problem):
    path = tmp_path / "domain.yaml"
    path.write_text(content)
    with pytest.raises(DomainFileError) as stopped:
        read_domain_file(path)
    assert str(stopped.value).startswith(f"{path}: ") and problem in str(stopped.value)
    with pytest.raises(SettingsError, match="AESYNTH_DOMAIN is not a usable domain file"):
        Settings(attendances="a.csv", domain=str(path))


def test_a_domain_file_needs_attendances_of_your_own():
    with pytest.raises(SettingsError, match="set AESYNTH_ATTENDANCES too"):
        Settings(domain=str(EXAMPLE_DOMAIN_FILE))


def test_the_public_domain_is_the_domain_file_s_not_the_mock_s():
    hospital_ids = hospital_pseudonyms(DOMAIN.hospitals, b"k").values()
    declared = public_domain(hospital_ids, declared=DOMAIN)
    assert declared.values(c.ARRIVAL_DATE) == DOMAIN.arrival_dates
    assert len(declared.values(c.HOSPITAL_ID)) == 5
    shorter = public_domain(hospital_ids, declared=DOMAIN.__class__(
        first_day=DOMAIN.first_day, last_day=DOMAIN.last_day, hospitals=DOMAIN.hospitals,
        longest_stay=480))  # fmt: skip
    assert shorter.time_edges[-3:] == (237, 241, 481)


@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    """The example extract with a few broken rows, through the whole pipeline."""
    folder = tmp_path_factory.mktemp("own")
    rows = example_attendances(generate_postcode_directory(42, 50_000), 3_000)
    text = rows.astype({c.ARRIVAL_TIME: str}).astype(str)
    text.loc[:4, c.AGE] = "-1"
    text.loc[5:6, c.HOSPITAL] = "Barnet Hospital"
    path = written(folder, text)
    run = materialise_pipeline(
        folder / "lake",
        attendances=str(path),
        domain=str(EXAMPLE_DOMAIN_FILE),
        modes=("random", "independent", "correlated"),
        **SMALL_RUN,
    )
    return run, rows


def test_the_example_extract_runs_through_the_pipeline_within_its_declared_domain(own_run):
    run, rows = own_run
    assert run.result.success and all(run.checks().values())
    raw = run.read("raw", "hospital_ae_data")
    rejected = run.read("raw", "hospital_ae_rejected")
    assert len(raw) == len(rows) - 7 and len(rejected) == 7
    assert set(rejected[c.QUARANTINE_REASON]) == {
        contract_rules.AGE_OUTSIDE.reason,
        contract_rules.HOSPITAL_UNDECLARED.reason,
    }
    assert run.metadata(HOSPITAL_AE_REJECTED)[contract_rules.AGE_OUTSIDE.reason] == 5
    for key in (HOSPITAL_AE_DATA, HOSPITAL_AE_REJECTED):
        assert (
            oct(run.lake.joinpath(*key.path[:-1], f"{key.path[-1]}.parquet").stat().st_mode)[-3:]
            == "600"
        )
    deidentified = run.read("hospital_ae_deidentified")
    assert set(deidentified[c.ARRIVAL_DATE]) <= set(DOMAIN.arrival_dates)
    assert deidentified[c.HOSPITAL_ID].nunique() == 5
    # Every description declares the domain file's days, not the mock's, and the synthetic
    # data stays within them.
    for mode in ("random", "independent", "correlated"):
        text = json.dumps(run.result.output_for_node(description_key(mode).to_python_identifier()))
        assert "2024-03-17" in text and "2019-04-0" not in text
        synthetic = run.read(f"synthetic_{mode}")
        assert set(synthetic[c.ARRIVAL_DATE]) <= set(DOMAIN.arrival_dates)
        assert synthetic[c.HOSPITAL_ID].isin(set(deidentified[c.HOSPITAL_ID])).all()


def test_above_the_limit_the_blocking_check_stops_before_de_identification(tmp_path, good):
    path = written(tmp_path, broken(good, c.AGE, ["-1"] * 20))
    run = materialise_pipeline(
        tmp_path / "lake",
        raise_on_error=False,
        selection=FOUNDATION,
        attendances=str(path),
        domain=str(EXAMPLE_DOMAIN_FILE),
        postcode_count=2_000,
        seed=1,
        pseudonym_key="k",
    )
    assert run.checks()[(HOSPITAL_AE_REJECTED, "rejected_share_within_limit")] is False
    materialised = {e.asset_key for e in run.result.get_asset_materialization_events()}
    assert DEIDENTIFIED not in materialised


def test_make_run_refuses_a_bad_file_before_anything_is_written(tmp_path, good):
    path = written(tmp_path, broken(good, c.HEALTH_SERVICE_ID, ["999 000 0001"] * 10))
    lake = tmp_path / "lake"
    returncode, stdout, stderr = finished(
        launch_command(
            "everything",
            instance_home(tmp_path / "home"),
            AESYNTH_DATA_LAKE=str(lake),
            AESYNTH_ATTENDANCES=str(path),
            AESYNTH_DOMAIN=str(EXAMPLE_DOMAIN_FILE),
        )
    )
    assert returncode == 2 and stdout == ""
    assert stderr == (
        f"aesynth: AESYNTH_ATTENDANCES: {path}: 10 of {ROWS} rows (5.0%) break the data "
        f"contract, above the 1% limit (AESYNTH_MAX_REJECTED_SHARE): column "
        f"'{c.HEALTH_SERVICE_ID}': 10 row(s) ({contract_rules.NHS_CHECK_DIGIT.reason})\n"
    )
    assert not lake.exists()


def test_make_run_runs_the_whole_pipeline_on_your_own_parquet_file(tmp_path):
    rows = example_attendances(generate_postcode_directory(42, 50_000), 3_000)
    path = tmp_path / "attendances.parquet"
    rows.to_parquet(path, index=False)
    lake = tmp_path / "lake"
    returncode, stdout, stderr = finished(
        launch_command(
            "everything",
            instance_home(tmp_path / "home"),
            AESYNTH_DATA_LAKE=str(lake),
            AESYNTH_ATTENDANCES=str(path),
            AESYNTH_DOMAIN=str(EXAMPLE_DOMAIN_FILE),
            AESYNTH_MODES="random,independent",
            AESYNTH_PSEUDONYM_KEY="k",
            AESYNTH_GATE_TOLERANCE_1WAY="1",
            AESYNTH_GATE_TOLERANCE_2WAY="1",
            AESYNTH_GATE_STANDARD_ERRORS="1000",
        )
    )
    assert returncode == 0, stderr
    assert "Run succeeded" in stdout
    pd.testing.assert_frame_equal(pd.read_parquet(lake / "raw" / "hospital_ae_data.parquet"), rows)
    assert (lake / "reports" / "evaluation_report.html").is_file()


def test_no_identifier_of_your_own_file_leaves_the_raw_zone(own_run):
    run, rows = own_run
    identifiers = {
        *rows[c.HEALTH_SERVICE_ID],
        *rows[c.POSTCODE],
        *rows[c.HOSPITAL],
        *rows[c.ATTENDANCE_ID],
        *rows[c.ARRIVAL_TIME].astype(str),
        "Barnet Hospital",
    }
    texts = []
    for event in run.result.all_events:
        texts.append(event.message or "")
        if event.is_step_materialization:
            texts.extend(str(v.value) for v in event.materialization.metadata.values())
    for evaluation in run.result.get_asset_check_evaluations():
        texts.extend(str(v.value) for v in evaluation.metadata.values())
    outside = [
        path
        for path in run.lake.rglob("*")
        if path.is_file()
        and RAW_ZONE not in path.relative_to(run.lake).parts
        and path.name != "london_postcodes.parquet"  # public, not patient data
    ]
    assert len(outside) > 20
    # The scan sees the identifiers where they belong.
    raw_text = file_bytes(run.lake / RAW_ZONE / "hospital_ae_data.parquet").decode("utf-8")
    assert all(value in raw_text for value in rows[c.HEALTH_SERVICE_ID].tail(10))
    texts.extend(file_bytes(path).decode("utf-8", errors="replace") for path in outside)
    text = "\n".join(texts)
    leaked = [value for value in identifiers if value in text]
    assert not leaked, leaked[:5]


def test_make_run_refuses_a_file_missing_a_column_naming_the_file_and_column(tmp_path, good):
    path = written(tmp_path, good.drop(columns=c.GENDER))
    returncode, stdout, stderr = finished(
        launch_command(
            "everything",
            instance_home(tmp_path / "home"),
            AESYNTH_DATA_LAKE=str(tmp_path / "lake"),
            AESYNTH_ATTENDANCES=str(path),
        )
    )
    assert returncode == 2 and stdout == ""
    assert stderr.startswith(
        f"aesynth: AESYNTH_ATTENDANCES: {path}: missing column(s) ['{c.GENDER}']"
    )
    assert stderr.count("\n") == 1
    assert not (tmp_path / "lake").exists()
