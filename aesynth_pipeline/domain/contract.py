"""What is declared public about a set of raw attendances: its date range, its hospitals,
the longest stay it may hold and its category lists.

The mock's own declaration is the default. For a real extract a domain file (YAML or JSON,
AESYNTH_DOMAIN) declares it: the synthesisers' public domain (`public_domain.py`) and the
data contract's value rules (`extract.py`) both read it, so nothing exact about the data
reaches a description unless the file declared it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pydantic
import yaml

from aesynth_pipeline.domain.deidentify import KEPT_GENDERS
from aesynth_pipeline.domain.generate import ARRIVAL_DAYS, GENDERS, HOSPITALS, TREATMENTS

# A stay longer than a day is a data error in A&E records; a file may declare a shorter bound.
DEFAULT_LONGEST_STAY = 1440
OLDEST_AGE = 120


class DomainFileError(ValueError):
    """A domain file that cannot be used, naming the file and the entry at fault."""


@dataclass(frozen=True)
class AttendanceDomain:
    """The declared values of the raw attendances; every field is public."""

    first_day: dt.date
    last_day: dt.date
    hospitals: tuple[str, ...]
    longest_stay: int = DEFAULT_LONGEST_STAY
    treatments: tuple[str, ...] = TREATMENTS
    genders: tuple[str, ...] = GENDERS

    @property
    def arrival_days(self) -> pd.DatetimeIndex:
        return pd.date_range(self.first_day, self.last_day, freq="D")

    @property
    def arrival_dates(self) -> tuple[str, ...]:
        """Each declared day as the de-identified dataset writes it (YYYY-MM-DD)."""
        return tuple(self.arrival_days.strftime("%Y-%m-%d"))

    @property
    def first_arrival(self) -> pd.Timestamp:
        return pd.Timestamp(self.first_day)

    @property
    def end_of_arrivals(self) -> pd.Timestamp:
        """The first moment after the declared range (arrivals are before it)."""
        return pd.Timestamp(self.last_day) + pd.Timedelta(days=1)


MOCK_DOMAIN = AttendanceDomain(
    first_day=ARRIVAL_DAYS[0].date(), last_day=ARRIVAL_DAYS[-1].date(), hospitals=HOSPITALS
)


class _DateRange(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    first: dt.date
    last: dt.date


class _DomainFile(pydantic.BaseModel):
    """The layout of a domain file; lists left out keep the mock's."""

    model_config = pydantic.ConfigDict(extra="forbid")
    arrival_dates: _DateRange
    hospitals: list[pydantic.constr(strip_whitespace=True, min_length=1)] = pydantic.Field(
        min_length=1
    )
    longest_stay_minutes: int = pydantic.Field(DEFAULT_LONGEST_STAY, ge=2)
    treatments: list[pydantic.constr(strip_whitespace=True, min_length=1)] | None = None
    genders: list[pydantic.constr(strip_whitespace=True, min_length=1)] | None = None


def read_domain_file(path: str | Path) -> AttendanceDomain:
    """The domain a YAML (.yaml, .yml) or JSON (.json) file declares, checked: a date range
    that runs forwards, hospitals and categories each listed once, a gender list that holds
    Male and Female (the genders the de-identified dataset keeps)."""
    path = Path(path)
    if not path.is_file():
        raise DomainFileError(f"{path}: domain file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DomainFileError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    try:
        if path.suffix.lower() == ".json":
            content = json.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            content = yaml.safe_load(text)
        else:
            raise DomainFileError(f"{path}: a domain file ends in .yaml, .yml or .json")
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise DomainFileError(f"{path}: cannot be read ({error})") from None
    try:
        declared = _DomainFile.model_validate(content)
    except pydantic.ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or '(file)'}: {problem['msg']}"
            for problem in error.errors()
        )
        raise DomainFileError(f"{path}: {problems}") from None
    if declared.arrival_dates.last < declared.arrival_dates.first:
        raise DomainFileError(f"{path}: arrival_dates.last is before arrival_dates.first")
    lists = {
        "hospitals": declared.hospitals,
        "treatments": declared.treatments or list(TREATMENTS),
        "genders": declared.genders or list(GENDERS),
    }
    for name, values in lists.items():
        repeated = sorted({value for value in values if values.count(value) > 1})
        if repeated:
            raise DomainFileError(f"{path}: {name} lists {len(repeated)} value(s) more than once")
    missing = [gender for gender in KEPT_GENDERS if gender not in lists["genders"]]
    if missing:
        raise DomainFileError(
            f"{path}: genders must include {list(KEPT_GENDERS)}, the genders the de-identified "
            f"dataset keeps; missing {missing}"
        )
    return AttendanceDomain(
        first_day=declared.arrival_dates.first,
        last_day=declared.arrival_dates.last,
        hospitals=tuple(lists["hospitals"]),
        longest_stay=declared.longest_stay_minutes,
        treatments=tuple(lists["treatments"]),
        genders=tuple(lists["genders"]),
    )
