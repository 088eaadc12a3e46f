"""pandera models, one per DataFrame asset: what every row of each asset must satisfy.

The same models drive the blocking asset checks (see `checks.py`) and the tests.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.engines import pandas_engine
from pandera.typing.pandas import Series

from aesynth_pipeline import columns as c
from aesynth_pipeline.domain.deidentify import (
    AGE_BRACKETS,
    ARRIVAL_HOUR_RANGES,
    HOSPITAL_ID_PATTERN,
    IMD_DECILES,
    KEPT_GENDERS,
    QUARANTINE_REASONS,
)
from aesynth_pipeline.domain.disclosure import QUASI_IDENTIFIER_SETS
from aesynth_pipeline.domain.generate import (
    ARRIVAL_DAYS,
    GENDERS,
    HOSPITALS,
    TREATMENTS,
    nhs_number_is_valid,
)
from aesynth_pipeline.domain.geography import (
    ENGLISH_LSOA_COUNT,
    IN_USE_VALUES,
    LSOA_CODE_PATTERN,
    POSTCODE_PATTERN,
)
from aesynth_pipeline.domain.metrics import DISCLOSURE, METRICS, names

_FIRST_ARRIVAL = ARRIVAL_DAYS[0]
_END_OF_ARRIVALS = ARRIVAL_DAYS[-1] + pd.Timedelta(days=1)


class LondonPostcodes(pa.DataFrameModel):
    """The postcode directory: unique, well-formed postcodes, each in at most one LSOA."""

    postcode: Series[str] = pa.Field(alias=c.POSTCODE, unique=True, str_matches=POSTCODE_PATTERN)
    in_use: Series[str] = pa.Field(alias=c.IN_USE, isin=list(IN_USE_VALUES))
    lsoa_name: Series[str] = pa.Field(alias=c.LSOA_NAME, nullable=True)
    lsoa_code: Series[str] = pa.Field(
        alias=c.LSOA_CODE, nullable=True, str_matches=LSOA_CODE_PATTERN
    )
    imd_rank: Series[pd.Int64Dtype] = pa.Field(
        alias=c.IMD_RANK, nullable=True, ge=1, le=ENGLISH_LSOA_COUNT
    )
    district: Series[str] = pa.Field(alias=c.DISTRICT)

    @pa.dataframe_check(error="an LSOA code has more than one IMD rank")
    def one_rank_per_lsoa(cls, frame: pd.DataFrame) -> bool:
        return bool((frame.groupby(c.LSOA_CODE)[c.IMD_RANK].nunique() <= 1).all())

    class Config:
        strict = True
        ordered = True


class _Attendance(pa.DataFrameModel):
    """Fields shared by every raw-zone table of attendances."""

    attendance_id: Series[str] = pa.Field(alias=c.ATTENDANCE_ID, unique=True)
    age: Series[int] = pa.Field(alias=c.AGE, ge=0)
    time_in_ae: Series[int] = pa.Field(alias=c.TIME_IN_AE, ge=1)
    hospital: Series[str] = pa.Field(alias=c.HOSPITAL, isin=list(HOSPITALS))
    arrival_time: Series[pd.Timestamp] = pa.Field(
        alias=c.ARRIVAL_TIME, ge=_FIRST_ARRIVAL, lt=_END_OF_ARRIVALS
    )
    treatment: Series[str] = pa.Field(alias=c.TREATMENT, isin=list(TREATMENTS))
    gender: Series[str] = pa.Field(alias=c.GENDER, isin=list(GENDERS))

    class Config:
        # Column order is fixed by the domain code; here only the set of columns is enforced.
        strict = True


class HospitalAeData(_Attendance):
    """The mock attendances: test-range NHS numbers with valid check digits, UK postcodes."""

    health_service_id: Series[str] = pa.Field(
        alias=c.HEALTH_SERVICE_ID, str_matches=r"^999 [0-9]{3} [0-9]{4}$"
    )
    postcode: Series[str] = pa.Field(alias=c.POSTCODE, str_matches=POSTCODE_PATTERN)

    @pa.check(c.HEALTH_SERVICE_ID, error="NHS number check digit (modulus 11) is not valid")
    def valid_check_digit(cls, numbers: Series[str]) -> Series[bool]:
        return nhs_number_is_valid(numbers)


class HospitalAeDataLsoa(_Attendance):
    """Attendances placed in an LSOA: no NHS number, no postcode, a national IMD rank."""

    lsoa_name: Series[str] = pa.Field(alias=c.LSOA_NAME)
    imd_rank: Series[int] = pa.Field(alias=c.IMD_RANK, ge=1, le=ENGLISH_LSOA_COUNT)


class HospitalAeQuarantine(_Attendance):
    """Attendances the postcode directory could not place, each with the reason."""

    postcode: Series[str] = pa.Field(alias=c.POSTCODE)
    reason: Series[str] = pa.Field(alias=c.QUARANTINE_REASON, isin=list(QUARANTINE_REASONS))


class HospitalAeDeidentified(pa.DataFrameModel):
    """The shareable dataset: coarsened values only, exactly these columns in this order."""

    time_in_ae: Series[int] = pa.Field(alias=c.TIME_IN_AE, ge=1)
    treatment: Series[str] = pa.Field(alias=c.TREATMENT, isin=list(TREATMENTS))
    gender: Series[str] = pa.Field(alias=c.GENDER, isin=list(KEPT_GENDERS))
    imd_decile: Series[int] = pa.Field(alias=c.IMD_DECILE, isin=list(IMD_DECILES))
    hospital_id: Series[str] = pa.Field(alias=c.HOSPITAL_ID, str_matches=HOSPITAL_ID_PATTERN)
    arrival_date: Series[str] = pa.Field(
        alias=c.ARRIVAL_DATE, isin=list(ARRIVAL_DAYS.strftime("%Y-%m-%d"))
    )
    arrival_hour_range: Series[str] = pa.Field(
        alias=c.ARRIVAL_HOUR_RANGE, isin=list(ARRIVAL_HOUR_RANGES)
    )
    age_bracket: Series[str] = pa.Field(alias=c.AGE_BRACKET, isin=list(AGE_BRACKETS))

    class Config:
        strict = True
        ordered = True


class SyntheticDataset(HospitalAeDeidentified):
    """A synthetic dataset: the de-identified schema, column for column."""


class EvaluationMetrics(pa.DataFrameModel):
    """The evaluation's tidy metrics table: one row per mode, metric and column combination,
    each metric named in the catalogue (domain/metrics.py)."""

    mode: Series[str]
    family: Series[str] = pa.Field(isin=sorted({m.family for m in METRICS.values()}))
    metric: Series[str] = pa.Field(isin=list(METRICS))
    columns: Series[str]
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

    quasi_identifiers: Series[str] = pa.Field(isin=list(QUASI_IDENTIFIER_SETS))
    metric: Series[str] = pa.Field(isin=names(DISCLOSURE))
    value: Series[float] = pa.Field(ge=0)

    class Config:
        strict = True
        ordered = True


def synthetic_schema(mode: str) -> type[pa.DataFrameModel]:
    """Every mode draws from the same declared domain, so one schema fits them all."""
    return SyntheticDataset


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


def violating_share(model: type[pa.DataFrameModel], frame: pd.DataFrame) -> float:
    """Share of rows that break the model's rules; 1 when a column is missing, unexpected
    or of the wrong type, since then no row has the schema."""
    if structure_problems(model, frame):
        return 1.0
    try:
        model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        rows = errors.failure_cases["index"]
        if rows.isna().any():
            return 1.0
        return rows.nunique() / max(len(frame), 1)
    return 0.0
