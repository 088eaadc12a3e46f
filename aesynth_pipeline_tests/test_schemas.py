"""Each rule of each schema catches the rows that break it, reported by column, rule and count
as before the text checks were vectorised (their rules now named `one_of` and `matches`, where
pandera's were `isin` and `str_matches`), and the vectorised dtype and checks fail exactly the
values that pandera's own fail."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from aesynth_pipeline import columns as c
from aesynth_pipeline import schemas
from aesynth_pipeline.checks import schema_failures
from aesynth_pipeline.domain.contract import AttendanceDomain
from aesynth_pipeline.domain.deidentify import (
    AGE_BRACKETS,
    ARRIVAL_HOUR_RANGES,
    HOSPITAL_ID_PATTERN,
    IMD_DECILES,
    KEPT_GENDERS,
    QUARANTINE_REASONS,
    deidentify,
    join_postcode_directory,
)
from aesynth_pipeline.domain.disclosure import QUASI_IDENTIFIER_SETS
from aesynth_pipeline.domain.extract import REJECTION_REASONS
from aesynth_pipeline.domain.generate import (
    ARRIVAL_DAYS,
    GENDERS,
    HOSPITALS,
    TREATMENTS,
    format_nhs_numbers,
    generate_attendances,
    nhs_number_is_valid,
    valid_test_nhs_numbers,
)
from aesynth_pipeline.domain.geography import (
    ENGLISH_LSOA_COUNT,
    IN_USE_VALUES,
    LSOA_CODE_PATTERN,
    POSTCODE_PATTERN,
    generate_postcode_directory,
)
from aesynth_pipeline.domain.metrics import DISCLOSURE, METRIC_COLUMNS, METRICS, names
from aesynth_pipeline.schemas import (
    DisclosureRisk,
    EvaluationMetrics,
    HospitalAeData,
    HospitalAeDataLsoa,
    HospitalAeDeidentified,
    HospitalAeQuarantine,
    HospitalAeRejected,
    LondonPostcodes,
    SyntheticDataset,
    declared,
)

NHS_PATTERN = r"^[0-9]{3} [0-9]{3} [0-9]{4}$"
CHECK_DIGIT = "NHS number check digit (modulus 11) is not valid"
ONE_RANK = "an LSOA code has more than one IMD rank"
STR = "dtype('str')"
FAMILIES = sorted({m.family for m in METRICS.values()})
DAYS = list(ARRIVAL_DAYS.strftime("%Y-%m-%d"))
BROKEN_ROWS = [3, 7]


def one_of(values) -> str:
    return f"one_of(values={list(values)})"


def matches(pattern: str) -> str:
    return f"matches(pattern={pattern})"


@pytest.fixture(scope="module")
def valid() -> dict[type[pa.DataFrameModel], pd.DataFrame]:
    """A small frame of each asset, made by the pipeline's own domain functions."""
    directory = generate_postcode_directory(seed=3, postcode_count=300)
    attendances = generate_attendances(directory, rows=300, seed=3)
    joined, _ = join_postcode_directory(attendances, directory)
    quarantined = attendances.drop(columns=c.HEALTH_SERVICE_ID).assign(
        **{c.QUARANTINE_REASON: QUARANTINE_REASONS[0]}
    )
    deidentified = deidentify(joined, b"k").data
    rejected = (
        attendances.astype(str).astype(object).assign(**{c.QUARANTINE_REASON: REJECTION_REASONS[0]})
    )
    metrics = pd.DataFrame(
        [[m.family, m.name] for m in METRICS.values()], columns=["family", "metric"]
    ).assign(mode="random", columns="Age bracket", value=0.5, floor=np.nan, floor_spread=0.0,
             excess=np.nan, reference=np.nan)[METRIC_COLUMNS]  # fmt: skip
    risk = pd.DataFrame(
        [[q, m, 1.0] for q in QUASI_IDENTIFIER_SETS for m in names(DISCLOSURE)],
        columns=["quasi_identifiers", "metric", "value"],
    )
    frames = {
        LondonPostcodes: directory,
        HospitalAeData: attendances,
        HospitalAeDataLsoa: joined,
        HospitalAeQuarantine: quarantined,
        HospitalAeRejected: rejected,
        HospitalAeDeidentified: deidentified,
        SyntheticDataset: deidentified,
        EvaluationMetrics: metrics,
        DisclosureRisk: risk,
    }
    for model, frame in frames.items():
        assert schema_failures(model, frame, True) is None, model.__name__
    return frames


def broken(frame: pd.DataFrame, column: str, values: list) -> pd.DataFrame:
    """`frame` with `values` in rows 3 and 7 of `column`, which holds them in its own dtype
    where it can and as objects where it cannot."""
    frame = frame.copy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)  # pandas would change the dtype
            frame.loc[BROKEN_ROWS, column] = values
    except (FutureWarning, TypeError, ValueError):
        frame[column] = frame[column].astype(object)
        frame.loc[BROKEN_ROWS, column] = pd.Series(values, index=BROKEN_ROWS, dtype=object)
    return frame


def report(model: type[pa.DataFrameModel], frame: pd.DataFrame) -> set[tuple[str, str, int]]:
    failures = schema_failures(model, frame, True)
    if failures is None:
        return set()
    return set(failures[["column", "check", "failing_rows"]].itertuples(index=False, name=None))


# Every text column, with the checks that a value that is not a string also breaks.
ATTENDANCE_TEXT = {
    c.ATTENDANCE_ID: [],
    c.HOSPITAL: [one_of(HOSPITALS)],
    c.TREATMENT: [one_of(TREATMENTS)],
    c.GENDER: [one_of(GENDERS)],
}
DEIDENTIFIED_TEXT = {
    c.TREATMENT: [one_of(TREATMENTS)],
    c.GENDER: [one_of(KEPT_GENDERS)],
    c.HOSPITAL_ID: [matches(HOSPITAL_ID_PATTERN)],
    c.ARRIVAL_DATE: [one_of(DAYS)],
    c.ARRIVAL_HOUR_RANGE: [one_of(ARRIVAL_HOUR_RANGES)],
    c.AGE_BRACKET: [one_of(AGE_BRACKETS)],
}
TEXT_COLUMNS = {
    LondonPostcodes: {
        c.POSTCODE: [matches(POSTCODE_PATTERN)],
        c.IN_USE: [one_of(IN_USE_VALUES)],
        c.LSOA_NAME: [],
        c.LSOA_CODE: [matches(LSOA_CODE_PATTERN)],
        c.DISTRICT: [],
    },
    HospitalAeData: {
        **ATTENDANCE_TEXT,
        c.HEALTH_SERVICE_ID: [matches(NHS_PATTERN), CHECK_DIGIT],
        c.POSTCODE: [matches(POSTCODE_PATTERN)],
    },
    HospitalAeDataLsoa: {**ATTENDANCE_TEXT, c.LSOA_NAME: []},
    HospitalAeQuarantine: {
        **ATTENDANCE_TEXT,
        c.POSTCODE: [],
        c.QUARANTINE_REASON: [one_of(QUARANTINE_REASONS)],
    },
    HospitalAeRejected: {
        **dict.fromkeys(c.ATTENDANCE_COLUMNS, []),
        c.QUARANTINE_REASON: [one_of(REJECTION_REASONS)],
    },
    HospitalAeDeidentified: DEIDENTIFIED_TEXT,
    SyntheticDataset: DEIDENTIFIED_TEXT,
    EvaluationMetrics: {
        "mode": [],
        "family": [one_of(FAMILIES)],
        "metric": [one_of(METRICS)],
        "columns": [],
    },
    DisclosureRisk: {
        "quasi_identifiers": [one_of(QUASI_IDENTIFIER_SETS)],
        "metric": [one_of(names(DISCLOSURE))],
    },
}
NULLABLE_TEXT = {(LondonPostcodes, c.LSOA_NAME), (LondonPostcodes, c.LSOA_CODE)}
TEXT_CASES = [
    case
    for model, columns in TEXT_COLUMNS.items()
    for column, checks in columns.items()
    for case in (
        # Not strings: the type rule, and every check of the column, fail on both rows.
        (model, column, [5, 6.5], {(column, STR, 2), *((column, check, 2) for check in checks)}),
        # Missing: only the missing-value rule judges them.
        (model, column, [None, np.nan],
         set() if (model, column) in NULLABLE_TEXT else {(column, "not_nullable", 2)}),
    )
]  # fmt: skip
ATTENDANCE_RULES = [
    (c.ATTENDANCE_ID, "same", {(c.ATTENDANCE_ID, "field_uniqueness", 3)}),
    (c.AGE, [-1, -2], {(c.AGE, "greater_than_or_equal_to(0)", 2)}),
    (c.AGE, [1.5, None], {(c.AGE, "dtype('int64')", 1), (c.AGE, "not_nullable", 1)}),
    (c.TIME_IN_AE, [0, -3], {(c.TIME_IN_AE, "greater_than_or_equal_to(1)", 2)}),
    (c.TIME_IN_AE, [1441, 5000], {(c.TIME_IN_AE, "less_than_or_equal_to(1440)", 2)}),
    # A check that cannot compare the text with its bound fails once, naming the error.
    (c.TIME_IN_AE, ["60", None],
     {(c.TIME_IN_AE, "dtype('int64')", 1), (c.TIME_IN_AE, "not_nullable", 1),
      (c.TIME_IN_AE, "greater_than_or_equal_to(1)", 1),
      (c.TIME_IN_AE, "less_than_or_equal_to(1440)", 1)}),
    (c.HOSPITAL, ["Nowhere", "Nowhere "], {(c.HOSPITAL, one_of(HOSPITALS), 2)}),
    (c.ARRIVAL_TIME, [pd.Timestamp("2019-03-31 23:59"), pd.Timestamp("2019-03-01")],
     {(c.ARRIVAL_TIME, f"greater_than_or_equal_to({ARRIVAL_DAYS[0]})", 2)}),
    (c.ARRIVAL_TIME, [ARRIVAL_DAYS[-1] + pd.Timedelta(days=1)] * 2,
     {(c.ARRIVAL_TIME, f"less_than({ARRIVAL_DAYS[-1] + pd.Timedelta(days=1)})", 2)}),
    (c.ARRIVAL_TIME, ["soon", None],
     {(c.ARRIVAL_TIME, "dtype('datetime64[ns]')", 1), (c.ARRIVAL_TIME, "not_nullable", 1),
      (c.ARRIVAL_TIME, f"greater_than_or_equal_to({ARRIVAL_DAYS[0]})", 1),
      (c.ARRIVAL_TIME, f"less_than({ARRIVAL_DAYS[-1] + pd.Timedelta(days=1)})", 1)}),
    (c.TREATMENT, ["Magic", "dressing"], {(c.TREATMENT, one_of(TREATMENTS), 2)}),
    (c.GENDER, ["Unknown", "male"], {(c.GENDER, one_of(GENDERS), 2)}),
]  # fmt: skip
DEIDENTIFIED_RULES = [
    (c.TIME_IN_AE, [0, 0], {(c.TIME_IN_AE, "greater_than_or_equal_to(1)", 2)}),
    (c.TIME_IN_AE, [1441, 2000], {(c.TIME_IN_AE, "less_than_or_equal_to(1440)", 2)}),
    (c.TIME_IN_AE, [1.5, None],
     {(c.TIME_IN_AE, "dtype('int64')", 1), (c.TIME_IN_AE, "not_nullable", 1)}),
    (c.TREATMENT, ["Magic", None],
     {(c.TREATMENT, one_of(TREATMENTS), 1), (c.TREATMENT, "not_nullable", 1)}),
    (c.GENDER, ["Other", "Other"], {(c.GENDER, one_of(KEPT_GENDERS), 2)}),
    (c.GENDER, [b"Male", "Male "], {(c.GENDER, STR, 1), (c.GENDER, one_of(KEPT_GENDERS), 2)}),
    (c.IMD_DECILE, [0, 11], {(c.IMD_DECILE, f"isin({list(IMD_DECILES)})", 2)}),
    (c.IMD_DECILE, ["1", None],
     {(c.IMD_DECILE, "dtype('int64')", 1), (c.IMD_DECILE, "not_nullable", 1),
      (c.IMD_DECILE, f"isin({list(IMD_DECILES)})", 1)}),
    (c.HOSPITAL_ID, ["H12345", "h123456"], {(c.HOSPITAL_ID, matches(HOSPITAL_ID_PATTERN), 2)}),
    # Python's `re.match` lets `$` match before a final newline; the rule always did.
    (c.HOSPITAL_ID, ["H123456\n", "H123456\n\n"],
     {(c.HOSPITAL_ID, matches(HOSPITAL_ID_PATTERN), 1)}),
    (c.ARRIVAL_DATE, ["2019-05-01", "2019/04/02"], {(c.ARRIVAL_DATE, one_of(DAYS), 2)}),
    (c.ARRIVAL_HOUR_RANGE, ["24-27", "0-3"],
     {(c.ARRIVAL_HOUR_RANGE, one_of(ARRIVAL_HOUR_RANGES), 2)}),
    (c.AGE_BRACKET, ["85-120", "0-18"], {(c.AGE_BRACKET, one_of(AGE_BRACKETS), 2)}),
]  # fmt: skip
CASES = [
    *TEXT_CASES,
    (LondonPostcodes, c.POSTCODE, "same", {(c.POSTCODE, "field_uniqueness", 3)}),
    (LondonPostcodes, c.POSTCODE, ["E5  0QZ", "E5 0QC"],
     {(c.POSTCODE, matches(POSTCODE_PATTERN), 2)}),
    (LondonPostcodes, c.IN_USE, ["Maybe", "yes"], {(c.IN_USE, one_of(IN_USE_VALUES), 2)}),
    (LondonPostcodes, c.LSOA_CODE, ["E02000001", "E01000001\n"],
     {(c.LSOA_CODE, matches(LSOA_CODE_PATTERN), 1)}),
    (LondonPostcodes, c.IMD_RANK, [0, ENGLISH_LSOA_COUNT + 1],
     {(c.IMD_RANK, "greater_than_or_equal_to(1)", 1),
      (c.IMD_RANK, f"less_than_or_equal_to({ENGLISH_LSOA_COUNT})", 1)}),
    (LondonPostcodes, c.IMD_RANK, [None, None], set()),
    (LondonPostcodes, c.IMD_RANK, [1.5, 2.5], {(c.IMD_RANK, "dtype('Int64')", 1)}),
    (LondonPostcodes, c.LSOA_CODE, "same", {("LondonPostcodes", ONE_RANK, 1)}),
    *[(model, column, values, expected)
      for model in (HospitalAeData, HospitalAeDataLsoa, HospitalAeQuarantine)
      for column, values, expected in ATTENDANCE_RULES],
    (HospitalAeData, c.HEALTH_SERVICE_ID, ["999 123 456", "9991234567"],
     {(c.HEALTH_SERVICE_ID, matches(NHS_PATTERN), 2), (c.HEALTH_SERVICE_ID, CHECK_DIGIT, 2)}),
    (HospitalAeData, c.HEALTH_SERVICE_ID, "wrong check digit",
     {(c.HEALTH_SERVICE_ID, CHECK_DIGIT, 2)}),
    (HospitalAeData, c.POSTCODE, ["nowhere", ""], {(c.POSTCODE, matches(POSTCODE_PATTERN), 2)}),
    (HospitalAeDataLsoa, c.IMD_RANK, [0, ENGLISH_LSOA_COUNT + 1],
     {(c.IMD_RANK, "greater_than_or_equal_to(1)", 1),
      (c.IMD_RANK, f"less_than_or_equal_to({ENGLISH_LSOA_COUNT})", 1)}),
    (HospitalAeDataLsoa, c.IMD_RANK, [1.5, None],
     {(c.IMD_RANK, "dtype('int64')", 1), (c.IMD_RANK, "not_nullable", 1)}),
    (HospitalAeQuarantine, c.QUARANTINE_REASON, ["lost", "lost"],
     {(c.QUARANTINE_REASON, one_of(QUARANTINE_REASONS), 2)}),
    *[(model, column, values, expected)
      for model in (HospitalAeDeidentified, SyntheticDataset)
      for column, values, expected in DEIDENTIFIED_RULES],
    (EvaluationMetrics, "family", ["beauty", "beauty"], {("family", one_of(FAMILIES), 2)}),
    (EvaluationMetrics, "metric", ["made_up", "made_up"], {("metric", one_of(METRICS), 2)}),
    (EvaluationMetrics, "value", [np.nan, np.nan], {("value", "not_nullable", 2)}),
    *[(EvaluationMetrics, column, ["high", "low"], {(column, "dtype('float64')", 2)})
      for column in ("value", "floor", "excess", "reference")],
    (EvaluationMetrics, "floor_spread", ["high", "low"],
     {("floor_spread", "dtype('float64')", 2), ("floor_spread", "greater_than_or_equal_to(0)", 1)}),
    *[(EvaluationMetrics, column, [np.nan, np.nan], set())
      for column in ("floor", "floor_spread", "excess", "reference")],
    (EvaluationMetrics, "floor_spread", [-0.1, -1.0],
     {("floor_spread", "greater_than_or_equal_to(0)", 2)}),
    (DisclosureRisk, "quasi_identifiers", ["age", "age"],
     {("quasi_identifiers", one_of(QUASI_IDENTIFIER_SETS), 2)}),
    (DisclosureRisk, "metric", ["k", "k"], {("metric", one_of(names(DISCLOSURE)), 2)}),
    (DisclosureRisk, "value", [-1.0, -2.0], {("value", "greater_than_or_equal_to(0)", 2)}),
    (DisclosureRisk, "value", [np.nan, "x"],
     {("value", "not_nullable", 1), ("value", "dtype('float64')", 1),
      ("value", "greater_than_or_equal_to(0)", 1)}),
]  # fmt: skip


def case_frame(valid, model, column, values) -> pd.DataFrame:
    frame = valid[model]
    if values == "same":  # rows 3 and 7 take row 0's value
        return broken(frame, column, [frame[column].iloc[0]] * 2)
    if values == "wrong check digit":
        numbers = format_nhs_numbers(valid_test_nhs_numbers()[:2] + 1)
        return broken(frame, column, list(numbers))
    return broken(frame, column, values)


@pytest.mark.parametrize(
    ("model", "column", "values", "expected"),
    CASES,
    ids=[f"{m.__name__}-{col}-{v if isinstance(v, str) else v!r}" for m, col, v, _ in CASES],
)
def test_each_broken_rule_is_reported_by_column_rule_and_count(
    valid, model, column, values, expected
):
    frame = case_frame(valid, model, column, values)
    before = frame.copy()
    assert report(model, frame) == expected
    # Validation runs in place: it must leave the frame as it found it.
    pd.testing.assert_frame_equal(frame, before)


ORDERED = [LondonPostcodes, HospitalAeRejected, HospitalAeDeidentified, SyntheticDataset,
           EvaluationMetrics, DisclosureRisk]  # fmt: skip


@pytest.mark.parametrize("model", list(TEXT_COLUMNS), ids=lambda m: m.__name__)
def test_a_missing_unexpected_or_moved_column_is_reported_by_name(valid, model):
    frame = valid[model]
    first, second, *rest = frame.columns
    assert report(model, frame.drop(columns=second).assign(Sex=1)) == {
        ("Sex", "column_in_schema", 1),
        (second, "column_in_dataframe", 1),
    }
    moved = {(model.__name__, "column_ordered", 2)} if model in ORDERED else set()
    assert report(model, frame[[second, first, *rest]]) == moved


@pytest.mark.parametrize("model", list(TEXT_COLUMNS), ids=lambda m: m.__name__)
def test_every_rule_of_every_model_has_a_case_that_breaks_it(model):
    schema = model.to_schema()
    columns = schema.columns.items()
    rules = {(name, f"dtype('{column.dtype}')") for name, column in columns}
    rules |= {(name, "not_nullable") for name, column in columns if not column.nullable}
    rules |= {(name, "field_uniqueness") for name, column in columns if column.unique}
    rules |= {(name, check.error) for name, column in columns for check in column.checks}
    rules |= {(model.__name__, check.error) for check in schema.checks}
    covered = {
        (column, rule) for m, *_, broken in CASES if m is model for column, rule, _ in broken
    }
    assert rules <= covered, rules - covered
    # The table's own rules, broken in the test above.
    assert schema.strict and schema.ordered == (model in ORDERED)


# Values that pandera's own dtype and checks judge in unusual ways: missing values of every
# kind, numbers, bytes, a string subclass, a lone surrogate (which UTF-8 cannot hold), and
# strings that end in a newline (before which Python's `$` matches).
ODD_VALUES = [None, np.nan, pd.NA, pd.NaT, 5, 5.5, True, b"H123456", np.str_("H123456"),
              "\ud800", "", "H123456", "H123456\n", "h123456", "H1234567", " H123456",
              "E5 0QZ", "E5 0QZ\n", "SW1A 1AA", "E01000001", "E01000001\n", "Male", "Male\n",
              "999 123 4567", "999 000 0000\n", "É5 0QZ"]  # fmt: skip
PATTERNS = [HOSPITAL_ID_PATTERN, POSTCODE_PATTERN, LSOA_CODE_PATTERN, NHS_PATTERN, r"H[0-9]",
            r"\d+", r"^.*$"]  # fmt: skip
ALLOWED = ["Male", "H123456", "E5 0QZ"]


def odd_frames() -> dict[str, pd.DataFrame]:
    """Columns of strings with one odd value each, and columns mostly of the odd value."""
    strings = ["H123456", "E5 0QZ", "Male", "999 123 4567"] * 3
    frames = {}
    for odd in ODD_VALUES:
        frames[f"among strings: {odd!r}"] = pd.Series([*strings, odd], dtype=object)
        frames[f"mostly: {odd!r}"] = pd.Series([odd, odd, "H123456"], dtype=object)
    return {label: pd.DataFrame({"text": column}) for label, column in frames.items()}


def failures(dtype, check: pa.Check | None, nullable: bool, frame: pd.DataFrame) -> list:
    """Every failure case of a one-column schema: column, rule, value and row."""
    schema = pa.DataFrameSchema({"text": pa.Column(dtype, check, nullable=nullable)})
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases.astype({"failure_case": str})
        rows = cases[["column", "check", "failure_case", "index"]].itertuples(index=False)
        return sorted(rows, key=str)
    return []


def renamed(cases: list, old: str, new: str) -> list:
    return sorted(
        (case._replace(check=new) if case.check == old else case for case in cases), key=str
    )


@pytest.mark.parametrize("nullable", [False, True])
@pytest.mark.parametrize("frame", odd_frames().values(), ids=odd_frames())
def test_text_and_its_checks_fail_the_rows_pandera_str_isin_and_str_matches_fail(frame, nullable):
    assert failures(schemas.Text, None, nullable, frame) == failures(str, None, nullable, frame)
    fast = pa.Check.one_of(ALLOWED, ignore_na=False)
    assert failures(schemas.Text, fast, nullable, frame) == renamed(
        failures(str, pa.Check.isin(ALLOWED), nullable, frame), f"isin({ALLOWED})", fast.error
    )
    for pattern in PATTERNS:
        fast = pa.Check.matches(pattern, ignore_na=False)
        builtin = failures(str, pa.Check.str_matches(pattern), nullable, frame)
        assert failures(schemas.Text, fast, nullable, frame) == renamed(
            builtin, f"str_matches('{pattern}')", fast.error
        ), pattern


def test_the_check_digit_rule_judges_every_value_as_the_domain_function_does():
    valid_numbers = list(format_nhs_numbers(valid_test_nhs_numbers()[::5000]))
    wrong_digit = list(format_nhs_numbers(valid_test_nhs_numbers()[::5000] + 1))
    odd = ["999 123 456", "9991234567", "999 123 4567\n", " 999 123 4567", "999-123-4567",
           "999 123 ４567", "", "abc", "000 000 0000", "999 123 45é", "99９ 123 4567"]  # fmt: skip
    # Valid numbers with a character or two inserted, replaced or deleted.
    rng = np.random.default_rng(5)
    edited = []
    for number in format_nhs_numbers(rng.choice(valid_test_nhs_numbers(), 2_000)):
        characters = list(number)
        for _ in range(rng.integers(1, 3)):
            at, new = rng.integers(len(characters)), str(rng.choice(list("0123456789 -\n９é")))
            edit = rng.integers(3)
            characters[at : at + (edit > 0)] = [new] if edit < 2 else []
        edited.append("".join(characters))
    numbers = pd.Series(valid_numbers + wrong_digit + odd + edited, dtype=object)
    numbers.index = numbers.index * 3  # not a range: the result keeps the column's index
    fast = HospitalAeData.valid_check_digit(numbers)
    pd.testing.assert_series_equal(fast, nhs_number_is_valid(numbers))
    assert fast.iloc[: len(valid_numbers) + len(wrong_digit)].sum() == len(valid_numbers)
    for other in (numbers.iloc[1:], pd.Series([valid_numbers[0], None, 5]), pd.Series([1, 2])):
        pd.testing.assert_series_equal(
            HospitalAeData.valid_check_digit(other), nhs_number_is_valid(other)
        )


def test_a_declared_domain_s_values_replace_the_mock_s_in_every_schema(valid):
    domain = AttendanceDomain(
        first_day=pd.Timestamp("2024-03-04").date(),
        last_day=pd.Timestamp("2024-03-05").date(),
        hospitals=("Barnet Hospital",),
        longest_stay=60,
        treatments=("Dressing", "Sutures"),
    )
    attendances = valid[HospitalAeData]
    failures = schema_failures(declared(HospitalAeData, domain), attendances, True)
    broken_rules = set(failures["column"])
    assert broken_rules == {c.HOSPITAL, c.ARRIVAL_TIME, c.TREATMENT, c.TIME_IN_AE}
    deidentified = valid[HospitalAeDeidentified]
    failures = schema_failures(declared(HospitalAeDeidentified, domain), deidentified, True)
    assert set(failures["column"]) == {c.ARRIVAL_DATE, c.TREATMENT, c.TIME_IN_AE}
    # The mock's own domain gives each model its own rules.
    for model, frame in valid.items():
        assert schema_failures(declared(model), frame, True) is None, model.__name__
