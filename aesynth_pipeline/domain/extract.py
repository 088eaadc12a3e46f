"""Your own attendances: a CSV or Parquet file in the layout of `raw/hospital_ae_data`,
read and judged against the data contract.

File-level problems (no file, not UTF-8, no rows, a missing or extra column, a Parquet column
of the wrong type) stop with an error naming the file and the column. Every other rule is
judged row by row: a row that breaks one is set aside with the reason (the first rule it
breaks, in `ROW_RULES` order), so that the rest can go on, as the postcode join sets aside
the attendances it cannot place; `require_within_share` stops when too many are set aside.
Messages name the file, the column, the rule and how many rows, never a value.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa_arrow
import pyarrow.compute as pc
import pyarrow.parquet as pq
from upath import UPath

from aesynth_pipeline.columns import (
    AGE,
    ARRIVAL_TIME,
    ATTENDANCE_COLUMNS,
    ATTENDANCE_ID,
    GENDER,
    HEALTH_SERVICE_ID,
    HOSPITAL,
    POSTCODE,
    QUARANTINE_REASON,
    TIME_IN_AE,
    TREATMENT,
)
from aesynth_pipeline.domain.contract import OLDEST_AGE, AttendanceDomain
from aesynth_pipeline.domain.generate import nhs_number_is_valid
from aesynth_pipeline.domain.geography import POSTCODE_PATTERN

EXTRACT_FORMATS = (".csv", ".parquet")
REJECTED_COLUMNS = [*ATTENDANCE_COLUMNS, QUARANTINE_REASON]
# An ISO 8601 date and time without a zone: 2019-04-01 13:05:00 (or with a T, without
# seconds, or with a fraction of a second).
_ARRIVAL_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
_NHS_PATTERN = r"[0-9]{3} [0-9]{3} [0-9]{4}"
_WHOLE_NUMBER = r"[0-9]+"


class AttendanceFileError(ValueError):
    """An attendances file that cannot be used: the file, the column, the rule and how many
    rows, never the values."""


@dataclass(frozen=True)
class RowRule:
    """One rule of the contract judged on each row."""

    column: str
    reason: str


# The row rules, in the order a row is judged: a row is set aside for the first it breaks.
ID_EMPTY = RowRule(ATTENDANCE_ID, "Attendance ID is empty")
ID_REPEATED = RowRule(ATTENDANCE_ID, "Attendance ID appears on more than one row")
NHS_FORMAT = RowRule(HEALTH_SERVICE_ID, "Health Service ID is not written NNN NNN NNNN")
NHS_CHECK_DIGIT = RowRule(HEALTH_SERVICE_ID, "Health Service ID fails its check digit")
AGE_NOT_WHOLE = RowRule(AGE, "Age is not a whole number")
AGE_OUTSIDE = RowRule(AGE, f"Age is outside 0 to {OLDEST_AGE}")
TIME_NOT_WHOLE = RowRule(TIME_IN_AE, "Time in A&E (mins) is not a whole number")
TIME_OUTSIDE = RowRule(TIME_IN_AE, "Time in A&E (mins) is outside 1 to the declared longest stay")
HOSPITAL_UNDECLARED = RowRule(HOSPITAL, "Hospital is not in the declared list")
ARRIVAL_UNREADABLE = RowRule(ARRIVAL_TIME, "Arrival Time is not a date and time")
ARRIVAL_OUTSIDE = RowRule(ARRIVAL_TIME, "Arrival Time is outside the declared date range")
TREATMENT_UNDECLARED = RowRule(TREATMENT, "Treatment is not in the contract's list")
GENDER_UNDECLARED = RowRule(GENDER, "Gender is not in the contract's list")
POSTCODE_FORMAT = RowRule(POSTCODE, "Postcode is not a UK postcode like E5 0QZ")
ROW_RULES = (
    ID_EMPTY, ID_REPEATED, NHS_FORMAT, NHS_CHECK_DIGIT, AGE_NOT_WHOLE, AGE_OUTSIDE,
    TIME_NOT_WHOLE, TIME_OUTSIDE, HOSPITAL_UNDECLARED, ARRIVAL_UNREADABLE, ARRIVAL_OUTSIDE,
    TREATMENT_UNDECLARED, GENDER_UNDECLARED, POSTCODE_FORMAT,
)  # fmt: skip
REJECTION_REASONS = tuple(rule.reason for rule in ROW_RULES)

# A Parquet file's columns that hold whole numbers; the others hold text, but for the arrival
# time, which may be a time.
_INTEGER_COLUMNS = (AGE, TIME_IN_AE)


@dataclass(frozen=True)
class Extract:
    """An attendances file judged against the contract: the rows that keep every rule, typed
    as the mock's, and those set aside (every value as text) with the reason."""

    attendances: pd.DataFrame
    rejected: pd.DataFrame
    rows_read: int
    source: str

    def rejected_by_reason(self) -> dict[str, int]:
        counts = self.rejected[QUARANTINE_REASON].value_counts()
        return {reason: int(counts.get(reason, 0)) for reason in REJECTION_REASONS}

    @property
    def rejected_share(self) -> float:
        return len(self.rejected) / self.rows_read if self.rows_read else 0.0


def generated(attendances: pd.DataFrame, source: str) -> Extract:
    """Attendances the pipeline generated itself (the mock): every row kept."""
    rejected = pd.DataFrame({column: pd.Series(dtype=object) for column in REJECTED_COLUMNS})
    return Extract(attendances, rejected, rows_read=len(attendances), source=source)


def read_extract(location: str, domain: AttendanceDomain) -> Extract:
    """Read and judge the attendances at `location` (a local path or a lake URL, ending in
    .csv or .parquet) against the contract and the declared `domain`."""
    path = UPath(location)
    text = _read_as_text(path)
    return judge(text, domain, str(path))


def judge(text: pd.DataFrame, domain: AttendanceDomain, source: str) -> Extract:
    """Judge a table of text (every column of `ATTENDANCE_COLUMNS`, empty for missing)."""
    values = text[ATTENDANCE_COLUMNS].apply(lambda column: column.str.strip())
    age = _whole_numbers(values[AGE])
    stay = _whole_numbers(values[TIME_IN_AE])
    readable = values[ARRIVAL_TIME].str.fullmatch(_ARRIVAL_PATTERN)
    arrival = pd.to_datetime(
        values[ARRIVAL_TIME].where(readable), format="ISO8601", errors="coerce"
    )
    nhs_written = values[HEALTH_SERVICE_ID].str.fullmatch(_NHS_PATTERN)
    ids = values[ATTENDANCE_ID]
    broken: dict[RowRule, pd.Series] = {
        ID_EMPTY: ids == "",
        ID_REPEATED: (ids != "") & ids.duplicated(keep=False),
        NHS_FORMAT: ~nhs_written,
        NHS_CHECK_DIGIT: nhs_written & ~nhs_number_is_valid(values[HEALTH_SERVICE_ID]),
        AGE_NOT_WHOLE: age.isna(),
        AGE_OUTSIDE: age.notna() & ~age.between(0, OLDEST_AGE),
        TIME_NOT_WHOLE: stay.isna(),
        TIME_OUTSIDE: stay.notna() & ~stay.between(1, domain.longest_stay),
        HOSPITAL_UNDECLARED: ~values[HOSPITAL].isin(domain.hospitals),
        ARRIVAL_UNREADABLE: arrival.isna(),
        ARRIVAL_OUTSIDE: arrival.notna()
        & ((arrival < domain.first_arrival) | (arrival >= domain.end_of_arrivals)),
        TREATMENT_UNDECLARED: ~values[TREATMENT].isin(domain.treatments),
        GENDER_UNDECLARED: ~values[GENDER].isin(domain.genders),
        POSTCODE_FORMAT: ~values[POSTCODE].str.fullmatch(POSTCODE_PATTERN),
    }
    reason = pd.Series(pd.NA, index=values.index, dtype=object)
    for rule in reversed(ROW_RULES):
        reason = reason.mask(broken[rule].to_numpy(dtype=bool), rule.reason)
    bad = reason.notna().to_numpy()
    good = ~bad
    attendances = pd.DataFrame(
        {
            ATTENDANCE_ID: ids[good].astype(object),
            HEALTH_SERVICE_ID: values.loc[good, HEALTH_SERVICE_ID].astype(object),
            AGE: age[good].astype("int64"),
            TIME_IN_AE: stay[good].astype("int64"),
            HOSPITAL: values.loc[good, HOSPITAL].astype(object),
            ARRIVAL_TIME: arrival[good].astype("datetime64[ns]"),
            TREATMENT: values.loc[good, TREATMENT].astype(object),
            GENDER: values.loc[good, GENDER].astype(object),
            POSTCODE: values.loc[good, POSTCODE].astype(object),
        },
        columns=ATTENDANCE_COLUMNS,
    ).reset_index(drop=True)
    rejected = (
        text.loc[bad, ATTENDANCE_COLUMNS]
        .astype(object)
        .assign(**{QUARANTINE_REASON: reason[bad].astype(object)})
        .reset_index(drop=True)
    )
    return Extract(attendances=attendances, rejected=rejected, rows_read=len(text), source=source)


def require_within_share(extract: Extract, limit: float, variable: str) -> None:
    """Stop when more than `limit` of the rows were set aside, naming each rule broken and how
    many rows broke it first."""
    if extract.rejected_share <= limit:
        return
    broken = [
        f"column '{rule.column}': {count} row(s) ({rule.reason})"
        for rule in ROW_RULES
        if (count := extract.rejected_by_reason()[rule.reason])
    ]
    raise AttendanceFileError(
        f"{extract.source}: {len(extract.rejected)} of {extract.rows_read} rows "
        f"({extract.rejected_share:.1%}) break the data contract, above the {limit:.0%} limit "
        f"({variable}): {'; '.join(broken)}"
    )


def _whole_numbers(text: pd.Series) -> pd.Series:
    """Each value as a whole number, or missing where it is not one (a leading minus sign is
    read, so that a negative age breaks the range rule rather than the type rule)."""
    whole = text.str.fullmatch(rf"-?{_WHOLE_NUMBER}")
    return pd.to_numeric(text.where(whole), errors="coerce").astype("Int64")


def _read_as_text(path: UPath) -> pd.DataFrame:
    """The file's rows with every column as text, after the file-level rules."""
    suffix = path.suffix.lower()
    if suffix not in EXTRACT_FORMATS:
        raise AttendanceFileError(
            f"{path}: an attendances file ends in {' or '.join(EXTRACT_FORMATS)}"
        )
    try:
        content = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise AttendanceFileError(f"{path}: attendances file not found") from None
    reader: Callable[[UPath, bytes], pd.DataFrame] = (
        _read_csv if suffix == ".csv" else _read_parquet
    )
    table = reader(path, content)
    missing = [column for column in ATTENDANCE_COLUMNS if column not in table.columns]
    extra = [column for column in table.columns if column not in ATTENDANCE_COLUMNS]
    if missing or extra:
        raise AttendanceFileError(
            f"{path}: "
            + "; ".join(
                [f"missing column(s) {missing}"] * bool(missing)
                + [f"column(s) not in the contract {extra}"] * bool(extra)
            )
            + f"; an attendances file has exactly the columns {ATTENDANCE_COLUMNS}"
        )
    if table.empty:
        raise AttendanceFileError(f"{path}: the file has a header but no attendances")
    return table


def _read_csv(path: UPath, content: bytes) -> pd.DataFrame:
    if not content.strip():
        raise AttendanceFileError(f"{path}: the file is empty")
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise AttendanceFileError(
            f"{path}: not UTF-8 text (a byte that UTF-8 cannot hold at position "
            f"{error.start}); save it as UTF-8"
        ) from None
    try:
        return pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False, encoding="utf-8")
    except pd.errors.ParserError as error:
        raise AttendanceFileError(f"{path}: cannot be read as CSV ({error})") from None


def _read_parquet(path: UPath, content: bytes) -> pd.DataFrame:
    if not content:
        raise AttendanceFileError(f"{path}: the file is empty")
    try:
        table = pq.read_table(pa_arrow.BufferReader(content))
    except pa_arrow.ArrowException as error:
        raise AttendanceFileError(f"{path}: not a Parquet file ({error})") from None
    text = {}
    for name in table.column_names:
        kind = table.schema.field(name).type
        if name in _INTEGER_COLUMNS:
            expected, fits = "whole numbers", pa_arrow.types.is_integer(kind)
        elif name == ARRIVAL_TIME:
            expected = "times without a time zone, or text"
            fits = (pa_arrow.types.is_timestamp(kind) and kind.tz is None) or _is_text(kind)
        else:
            expected, fits = "text", _is_text(kind) or name not in ATTENDANCE_COLUMNS
        if not fits:
            raise AttendanceFileError(
                f"{path}: column '{name}' holds {kind}, the contract says {expected} "
                f"({table.num_rows} rows)"
            )
        # Arrow writes numbers and times as text in C, times as ISO 8601; a missing value
        # becomes empty text, as in a CSV.
        written = pc.cast(table.column(name), pa_arrow.string())
        text[name] = pd.Series(pc.fill_null(written, "").to_pandas(), dtype=object)
    return pd.DataFrame(text, columns=table.column_names)


def _is_text(kind: pa_arrow.DataType) -> bool:
    return pa_arrow.types.is_string(kind) or pa_arrow.types.is_large_string(kind)
