"""pandera models, one per DataFrame asset: what every row of each asset must satisfy.

The same models drive the blocking asset checks (see `checks.py`) and the tests.

Text columns are declared with `Text` and checked with `one_of` and `matches` rather than
pandera's `str`, `isin` and `str_matches`: the same rules, judged on every row, with the same
failures, but vectorised. pandera's own versions test each value of an object column in
Python (an `isinstance` per value for the type, a Python regex per value) and scan the column
for missing values again before every check; at a million rows that made validation several
times slower (benchmarks/schema_benchmark.py measures both).
"""

from __future__ import annotations

import functools
import re
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.compute as pc
from pandera import dtypes
from pandera.engines import pandas_engine
from pandera.typing.pandas import Series

from aesynth_pipeline import columns as c
from aesynth_pipeline.domain.contract import MOCK_DOMAIN, AttendanceDomain
from aesynth_pipeline.domain.deidentify import (
    AGE_BRACKETS,
    ARRIVAL_HOUR_RANGES,
    HOSPITAL_ID_PATTERN,
    IMD_DECILES,
    KEPT_GENDERS,
    QUARANTINE_REASONS,
)
from aesynth_pipeline.domain.disclosure import QUASI_IDENTIFIER_SETS
from aesynth_pipeline.domain.extract import REJECTION_REASONS
from aesynth_pipeline.domain.generate import nhs_check_digits, nhs_number_is_valid
from aesynth_pipeline.domain.geography import (
    ENGLISH_LSOA_COUNT,
    IN_USE_VALUES,
    LSOA_CODE_PATTERN,
    POSTCODE_PATTERN,
)
from aesynth_pipeline.domain.metrics import DISCLOSURE, METRICS, names

# The models below declare the mock's domain; `declared` gives any model another domain's.
_MOCK = MOCK_DOMAIN


@pandas_engine.Engine.register_dtype
@dtypes.immutable
class Text(pandas_engine.NpString):
    """pandera's `str` (every value a Python string or missing), tested in one pass.

    For an object column `infer_dtype` answers in C whether every value that is not missing
    is a string; only a column where it is not falls back to pandera's test, value by value,
    which then names the values that are not strings. Reported as dtype('str'), like `str`.
    """

    def check(self, pandera_dtype: dtypes.DataType, data_container: Any = None) -> Any:
        if (
            data_container is not None
            and data_container.dtype == object
            and pd.api.types.infer_dtype(data_container, skipna=True) in ("string", "empty")
        ):
            return True
        return super().check(pandera_dtype, data_container)


@pa.extensions.register_check_method(statistics=["values"])
def one_of(text: pd.Series, *, values: list) -> pd.Series:
    """pandera's `isin` for a text column: each value is one of `values`. A missing value
    passes, as `isin` lets it (whether one may be missing is the nullable rule's business);
    but where `isin` scans the column for missing values first, to drop them, here they are
    looked for only when some value is not allowed."""
    allowed = text.isin(values)
    return allowed if allowed.all() else allowed | text.isna()


# Patterns in which RE2 (pyarrow's engine) and Python's `re` accept the same strings, but for
# one difference: Python's final `$` also matches before a final newline. Literal letters,
# digits and spaces, classes of them and their ranges, each repeated at most once by `?` or a
# count below RE2's limit of 1,000.
_LITERAL = r"[A-Za-z0-9 ]"
_CLASS = r"\[(?:[A-Za-z0-9](?:-[A-Za-z0-9])?)+\]"
_REPEAT = r"(?:\?|\{\d{1,3}(?:,\d{1,3})?\})"
_RE2_AGREES = re.compile(rf"\^?(?:(?:{_LITERAL}|{_CLASS}){_REPEAT}?)*\$?")


def _re2_agrees(pattern: str) -> bool:
    """Whether pyarrow's engine may judge `pattern` in Python's place (see `matches`)."""
    try:
        re.compile(pattern)
    except re.error:
        return False  # Python's own matching then fails on it, as `str_matches` does
    return _RE2_AGREES.fullmatch(pattern) is not None


def _is_strings(text: pd.Series) -> bool:
    """Whether `text` is an object column of strings, missing values allowed."""
    return text.dtype == object and pd.api.types.infer_dtype(text, skipna=True) == "string"


def _as_arrow_strings(text: pd.Series) -> pd.Series | None:
    """A column of strings as pandas' pyarrow strings, whose methods run in C; None if UTF-8
    cannot hold one of them (a lone surrogate)."""
    try:
        return text.astype("string[pyarrow]")
    except UnicodeError:
        return None


def _repeats_values(text: pd.Series) -> bool:
    """Whether an even sample of `text` holds each value twice on average or more, as a
    column of categories does: then matching each distinct value once beats every row."""
    sample = text.iloc[:: max(len(text) // 10_000, 1)]
    return sample.nunique() * 2 <= len(sample)


@pa.extensions.register_check_method(statistics=["pattern"])
def matches(text: pd.Series, *, pattern: str) -> pd.Series:
    """pandera's `str_matches` for a text column: each value matches `pattern` from its
    start (Python's `re.match`). A missing value passes, as with `str_matches`.

    In a column of strings that repeats its values, each distinct value is matched once, by
    Python; in one that does not, every value is matched by pyarrow's regular expressions, in
    C, when the pattern is one in which they agree with Python's (the values that end in a
    newline, where they may not, are matched by Python's again). Any other column or pattern
    is matched by Python's, value by value.
    """
    strings = _is_strings(text)
    if strings and _repeats_values(text):
        codes, distinct = pd.factorize(text)
        regex = re.compile(pattern)
        fails = [isinstance(value, str) and regex.match(value) is None for value in distinct]
        # A missing value's code is -1, which picks the last entry: False, it passes.
        return pd.Series(~np.array([*fails, False])[codes], index=text.index)
    arrow = _as_arrow_strings(text) if strings and _re2_agrees(pattern) else None
    if arrow is None:
        matched = text.str.match(pattern, na=False)
        return matched if matched.all() else matched | text.isna()
    matched = arrow.str.match(pattern).fillna(True).to_numpy(dtype=bool)
    newline = arrow.str.endswith("\n").fillna(False).to_numpy(dtype=bool)
    if newline.any():
        matched[newline] = text[newline].str.match(pattern, na=False).to_numpy(dtype=bool)
    return pd.Series(matched, index=text.index)


# Where the digits of a formatted NHS number, 'NNN NNN NNNN', stand.
_NHS_DIGITS = [0, 1, 2, 4, 5, 6, 8, 9, 10, 11]


def _nhs_numbers_are_valid(numbers: pd.Series) -> pd.Series:
    """`nhs_number_is_valid`, reading a column of strings as bytes.

    The domain function's string methods run in Python, value by value (1.3 s a million);
    here pyarrow holds the strings and numpy reads their bytes (0.2 s): a number is well
    formed when it is 12 bytes, ASCII digits but for spaces at bytes 3 and 7 (what the
    domain's pattern accepts, since every character it allows is one byte), and the domain's
    `nhs_check_digits` judges the well-formed ones. Any other column goes to the domain
    function.
    """
    if not _is_strings(numbers):
        return nhs_number_is_valid(numbers)
    try:
        text = pa_arrow.array(numbers.to_numpy(), type=pa_arrow.string(), from_pandas=True)
    except (pa_arrow.ArrowException, UnicodeError):  # e.g. a lone surrogate
        return nhs_number_is_valid(numbers)
    # Values of any other length (and missing ones) become 12 bytes that are not a number, so
    # that the values lie end to end, 12 bytes apart.
    twelve = pc.fill_null(pc.equal(pc.binary_length(text), 12), False)
    fixed = pc.if_else(twelve, text, "-" * 12)
    offsets = np.frombuffer(fixed.buffers()[1], dtype=np.int32)
    offsets = offsets[fixed.offset : fixed.offset + len(fixed) + 1]
    if not np.array_equal(offsets, offsets[0] + 12 * np.arange(len(fixed) + 1)):
        return nhs_number_is_valid(numbers)
    start = int(offsets[0])
    data = np.frombuffer(fixed.buffers()[2], dtype=np.uint8)[start : start + 12 * len(fixed)]
    data = data.reshape(len(fixed), 12)
    digits = data[:, _NHS_DIGITS].astype(np.int64) - ord("0")
    spaced = (data[:, 3] == ord(" ")) & (data[:, 7] == ord(" "))
    well_formed = spaced & ((digits >= 0) & (digits <= 9)).all(axis=1)
    whole = np.where(well_formed, digits @ 10 ** np.arange(9, -1, -1), 0)
    valid = nhs_check_digits(whole // 10) == whole % 10
    return pd.Series(well_formed & valid, index=numbers.index)


def text_field(**options: Any) -> Any:
    """`pa.Field` for a `Text` column. Its checks (`one_of`, `matches`) let missing values
    pass themselves, so pandera is told not to scan the column for them before each check."""
    return pa.Field(ignore_na=False, **options)


class LondonPostcodes(pa.DataFrameModel):
    """The postcode directory: unique, well-formed postcodes, each in at most one LSOA."""

    postcode: Series[Text] = text_field(alias=c.POSTCODE, unique=True, matches=POSTCODE_PATTERN)
    in_use: Series[Text] = text_field(alias=c.IN_USE, one_of=list(IN_USE_VALUES))
    lsoa_name: Series[Text] = pa.Field(alias=c.LSOA_NAME, nullable=True)
    lsoa_code: Series[Text] = text_field(
        alias=c.LSOA_CODE, nullable=True, matches=LSOA_CODE_PATTERN
    )
    imd_rank: Series[pd.Int64Dtype] = pa.Field(
        alias=c.IMD_RANK, nullable=True, ge=1, le=ENGLISH_LSOA_COUNT
    )
    district: Series[Text] = pa.Field(alias=c.DISTRICT)

    @pa.dataframe_check(error="an LSOA code has more than one IMD rank")
    def one_rank_per_lsoa(cls, frame: pd.DataFrame) -> bool:
        return bool((frame.groupby(c.LSOA_CODE)[c.IMD_RANK].nunique() <= 1).all())

    class Config:
        strict = True
        ordered = True


class _Attendance(pa.DataFrameModel):
    """Fields shared by every raw-zone table of attendances."""

    attendance_id: Series[Text] = pa.Field(alias=c.ATTENDANCE_ID, unique=True)
    age: Series[int] = pa.Field(alias=c.AGE, ge=0)
    time_in_ae: Series[int] = pa.Field(alias=c.TIME_IN_AE, ge=1, le=_MOCK.longest_stay)
    hospital: Series[Text] = text_field(alias=c.HOSPITAL, one_of=list(_MOCK.hospitals))
    arrival_time: Series[pd.Timestamp] = pa.Field(
        alias=c.ARRIVAL_TIME, ge=_MOCK.first_arrival, lt=_MOCK.end_of_arrivals
    )
    treatment: Series[Text] = text_field(alias=c.TREATMENT, one_of=list(_MOCK.treatments))
    gender: Series[Text] = text_field(alias=c.GENDER, one_of=list(_MOCK.genders))

    class Config:
        # Column order is fixed by the domain code; here only the set of columns is enforced.
        strict = True


class HospitalAeData(_Attendance):
    """The raw attendances: NHS numbers with valid check digits, UK postcodes."""

    health_service_id: Series[Text] = text_field(
        alias=c.HEALTH_SERVICE_ID, matches=r"^[0-9]{3} [0-9]{3} [0-9]{4}$"
    )
    postcode: Series[Text] = text_field(alias=c.POSTCODE, matches=POSTCODE_PATTERN)

    @pa.check(c.HEALTH_SERVICE_ID, error="NHS number check digit (modulus 11) is not valid")
    def valid_check_digit(cls, numbers: Series[str]) -> Series[bool]:
        return _nhs_numbers_are_valid(numbers)


class HospitalAeDataLsoa(_Attendance):
    """Attendances placed in an LSOA: no NHS number, no postcode, a national IMD rank."""

    lsoa_name: Series[Text] = pa.Field(alias=c.LSOA_NAME)
    imd_rank: Series[int] = pa.Field(alias=c.IMD_RANK, ge=1, le=ENGLISH_LSOA_COUNT)


class HospitalAeQuarantine(_Attendance):
    """Attendances the postcode directory could not place, each with the reason."""

    postcode: Series[Text] = pa.Field(alias=c.POSTCODE)
    reason: Series[Text] = text_field(alias=c.QUARANTINE_REASON, one_of=list(QUARANTINE_REASONS))


class HospitalAeRejected(pa.DataFrameModel):
    """Rows of your own attendances that break the data contract, every value as the file
    wrote it, each with the first rule it breaks."""

    attendance_id: Series[Text] = pa.Field(alias=c.ATTENDANCE_ID)
    health_service_id: Series[Text] = pa.Field(alias=c.HEALTH_SERVICE_ID)
    age: Series[Text] = pa.Field(alias=c.AGE)
    time_in_ae: Series[Text] = pa.Field(alias=c.TIME_IN_AE)
    hospital: Series[Text] = pa.Field(alias=c.HOSPITAL)
    arrival_time: Series[Text] = pa.Field(alias=c.ARRIVAL_TIME)
    treatment: Series[Text] = pa.Field(alias=c.TREATMENT)
    gender: Series[Text] = pa.Field(alias=c.GENDER)
    postcode: Series[Text] = pa.Field(alias=c.POSTCODE)
    reason: Series[Text] = text_field(alias=c.QUARANTINE_REASON, one_of=list(REJECTION_REASONS))

    class Config:
        strict = True
        ordered = True


class HospitalAeDeidentified(pa.DataFrameModel):
    """The shareable dataset: coarsened values only, exactly these columns in this order."""

    time_in_ae: Series[int] = pa.Field(alias=c.TIME_IN_AE, ge=1, le=_MOCK.longest_stay)
    treatment: Series[Text] = text_field(alias=c.TREATMENT, one_of=list(_MOCK.treatments))
    gender: Series[Text] = text_field(alias=c.GENDER, one_of=list(KEPT_GENDERS))
    imd_decile: Series[int] = pa.Field(alias=c.IMD_DECILE, isin=list(IMD_DECILES))
    hospital_id: Series[Text] = text_field(alias=c.HOSPITAL_ID, matches=HOSPITAL_ID_PATTERN)
    arrival_date: Series[Text] = text_field(alias=c.ARRIVAL_DATE, one_of=list(_MOCK.arrival_dates))
    arrival_hour_range: Series[Text] = text_field(
        alias=c.ARRIVAL_HOUR_RANGE, one_of=list(ARRIVAL_HOUR_RANGES)
    )
    age_bracket: Series[Text] = text_field(alias=c.AGE_BRACKET, one_of=list(AGE_BRACKETS))

    class Config:
        strict = True
        ordered = True


class SyntheticDataset(HospitalAeDeidentified):
    """A synthetic dataset: the de-identified schema, column for column."""


class EvaluationMetrics(pa.DataFrameModel):
    """The evaluation's tidy metrics table: one row per mode, metric and column combination,
    each metric named in the catalogue (domain/metrics.py)."""

    mode: Series[Text]
    family: Series[Text] = text_field(one_of=sorted({m.family for m in METRICS.values()}))
    metric: Series[Text] = text_field(one_of=list(METRICS))
    columns: Series[Text]
    value: Series[float]
    floor: Series[float] = pa.Field(nullable=True)
    floor_spread: Series[float] = pa.Field(nullable=True, ge=0)
    excess: Series[float] = pa.Field(nullable=True)
    reference: Series[float] = pa.Field(nullable=True)

    class Config:
        strict = True
        ordered = True


class DisclosureRisk(pa.DataFrameModel):
    """How easily a record of the de-identified table stands out by its quasi-identifiers."""

    quasi_identifiers: Series[Text] = text_field(one_of=list(QUASI_IDENTIFIER_SETS))
    metric: Series[Text] = text_field(one_of=names(DISCLOSURE))
    value: Series[float] = pa.Field(ge=0)

    class Config:
        strict = True
        ordered = True


def synthetic_schema(mode: str) -> type[pa.DataFrameModel]:
    """Every mode draws from the same declared domain, so one schema fits them all."""
    return SyntheticDataset


def _declared_checks(domain: AttendanceDomain) -> dict[str, list[pa.Check]]:
    """The rules of each column whose values a domain declares, for that domain."""
    return {
        c.TIME_IN_AE: [pa.Check.ge(1), pa.Check.le(domain.longest_stay)],
        c.HOSPITAL: [pa.Check.one_of(ignore_na=False, values=list(domain.hospitals))],
        c.ARRIVAL_TIME: [pa.Check.ge(domain.first_arrival), pa.Check.lt(domain.end_of_arrivals)],
        c.TREATMENT: [pa.Check.one_of(ignore_na=False, values=list(domain.treatments))],
        c.ARRIVAL_DATE: [pa.Check.one_of(ignore_na=False, values=list(domain.arrival_dates))],
    }


@functools.cache
def declared(
    model: type[pa.DataFrameModel], domain: AttendanceDomain = MOCK_DOMAIN
) -> pa.DataFrameSchema:
    """`model`'s schema with the rules of `domain` (a domain file's hospitals, dates, longest
    stay and lists) for the columns it declares; the mock's domain gives the model's own."""
    schema = model.to_schema()
    if not issubclass(model, (_Attendance, HospitalAeDeidentified)):
        return schema
    checks = _declared_checks(domain)
    if issubclass(model, _Attendance):
        # Raw genders; the de-identified dataset keeps Male and Female only, whatever they are.
        checks[c.GENDER] = [pa.Check.one_of(ignore_na=False, values=list(domain.genders))]
    return schema.update_columns(
        {name: {"checks": rules} for name, rules in checks.items() if name in schema.columns}
    )


def structure_problems(model: type[pa.DataFrameModel], frame: pd.DataFrame) -> list[str]:
    """Missing, unexpected or wrongly typed columns: the cheap part of a model's rules.

    Run on every read of a stored asset, so that a file changed outside the pipeline is
    caught before anything uses it; the values are judged by the schema checks.
    """
    schema = model.to_schema()
    expected = list(schema.columns)
    problems = [f"missing column {name!r}" for name in expected if name not in frame.columns]
    problems += [
        f"unexpected column {name!r}" for name in frame.columns if name not in schema.columns
    ]
    for name, column in schema.columns.items():
        if name in frame.columns and not column.dtype.check(
            pandas_engine.Engine.dtype(frame[name].dtype)
        ):
            problems.append(f"column {name!r} holds {frame[name].dtype}, not {column.dtype}")
    return problems


def violating_share(
    model: type[pa.DataFrameModel], frame: pd.DataFrame, domain: AttendanceDomain = MOCK_DOMAIN
) -> float:
    """Share of rows that break the model's rules (for `domain`); 1 when a column is
    missing, unexpected or of the wrong type, since then no row has the schema."""
    if structure_problems(model, frame):
        return 1.0
    try:
        # In place, as in `checks.schema_failures`: no model changes the frame it validates.
        declared(model, domain).validate(frame, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as errors:
        rows = errors.failure_cases["index"]
        if rows.isna().any():
            return 1.0
        return rows.nunique() / max(len(frame), 1)
    return 0.0
