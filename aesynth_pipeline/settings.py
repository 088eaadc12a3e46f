"""The pipeline's parameters, in one place, read from AESYNTH_* environment variables.

Each parameter is declared once below, as a pydantic-settings field with its type, its
range and its meaning; the variable that sets it is its name in capitals after AESYNTH_.
The same object drives the command line, the web UI and schedules: the definitions are
built from it, and each asset's code version carries a hash of the parameters it depends
on, so changing one parameter makes exactly the assets that use it stale.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars
from upath import UPath

from aesynth_pipeline.columns import DEIDENTIFIED_COLUMNS
from aesynth_pipeline.domain.aim import DEFAULT_DELTA, DEFAULT_MAX_MODEL_SIZE_MB
from aesynth_pipeline.domain.contract import (
    MOCK_DOMAIN,
    AttendanceDomain,
    DomainFileError,
    read_domain_file,
)
from aesynth_pipeline.domain.deidentify import ImdDecileMethod
from aesynth_pipeline.domain.fidelity import DEFAULT_ASSOCIATION_THRESHOLD
from aesynth_pipeline.domain.gate import GateThresholds
from aesynth_pipeline.domain.geography import DEFAULT_POSTCODE_COUNT
from aesynth_pipeline.domain.mock_profiles import DEFAULT_MOCK_PROFILE, MockProfile
from aesynth_pipeline.domain.modes import DEFAULT_ENGINE, MODES, Engine, Mode
from aesynth_pipeline.domain.public_domain import (
    DEFAULT_TIME_IN_AE_EDGES,
    DomainError,
    public_domain,
)

PREFIX = "AESYNTH_"
# Variables an earlier version read; set, they would silently change nothing.
RETIRED_VARIABLES = {
    "AESYNTH_GATE_MAX_TVD_2WAY": "the fidelity rules now compare each distribution with its "
    "floor; set AESYNTH_GATE_TOLERANCE_1WAY and AESYNTH_GATE_TOLERANCE_2WAY instead",
}
Deployment = Literal["local", "cluster", "kubernetes"]
Executor = Literal["auto", "in_process", "multiprocess"]


class SettingsError(ValueError):
    """An AESYNTH_* environment variable whose value cannot be used."""


def variable(name: str) -> str:
    return f"{PREFIX}{name.upper()}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        frozen=True,
        allow_inf_nan=False,
        # Lists are written with commas (AESYNTH_MODES=random,aim), not as JSON.
        enable_decoding=False,
    )

    rows: int = Field(10_000, ge=1, description="Number of mock attendances.")
    seed: int = Field(
        42, description="Seed for everything random: the same seed gives identical data."
    )
    attendances: str | None = Field(
        None,
        description="Your own attendances: a CSV or Parquet file (a path or a lake URL) in the "
        "layout of raw/hospital_ae_data, judged against the data contract; unset, the mock is "
        "generated.",
    )
    domain: str | None = Field(
        None,
        description="A domain file (YAML or JSON) declaring what is public about your own "
        "attendances: dates, hospitals, longest stay, category lists; unset, the mock's.",
    )
    max_rejected_share: float = Field(
        0.01,
        ge=0,
        le=1,
        description="The largest share of your own attendances that may break the data "
        "contract and be set aside before the pipeline stops.",
    )
    mock_profile: MockProfile = Field(
        DEFAULT_MOCK_PROFILE,
        description="tutorial: the seed tutorial's distributions, columns drawn on their own; "
        "realistic: the same columns and domains, with the dependencies of real attendances.",
    )
    postcodes: str | None = Field(
        None,
        description="Path to a real postcode directory CSV; unset, a directory is generated.",
    )
    postcode_count: int = Field(
        DEFAULT_POSTCODE_COUNT, ge=1, description="Postcodes in a generated directory."
    )
    data_lake: str = Field(
        "data_lake",
        description="Where the Parquet files go: a folder, or a storage URL.",
    )
    imd_deciles: ImdDecileMethod = Field(
        "national",
        description="national: England's official IMD deciles; london: deciles of the ranks "
        "found in the postcode directory.",
    )
    pseudonym_key: str | None = Field(
        None,
        min_length=1,
        # A secret: never printed, and hashed before it goes into a code version.
        repr=False,
        description="Secret key for hospital pseudonyms; unset, a random key is created once "
        "and kept in the lake's raw zone.",
    )
    holdout_share: float = Field(
        0.2, gt=0, lt=1, description="Share of de-identified rows held out from the synthesiser."
    )
    epsilon: float = Field(
        1.0,
        ge=0,
        description="Differential-privacy budget ε: smaller means more noise and more privacy; "
        "0 turns DataSynthesizer's noise off.",
    )
    bn_degree: int = Field(
        1,
        ge=1,
        lt=len(DEIDENTIFIED_COLUMNS),
        description="k, the parents per attribute in the correlated mode's Bayesian network; "
        "below the number of attributes.",
    )
    delta: float = Field(
        DEFAULT_DELTA,
        gt=0,
        lt=1,
        description="AIM's δ: it spends the largest ρ-zCDP budget whose guarantee is "
        "(ε, δ)-differential privacy.",
    )
    aim_max_model_size_mb: float = Field(
        DEFAULT_MAX_MODEL_SIZE_MB,
        gt=0,
        description="The largest graphical model AIM may build, in megabytes of marginal tables.",
    )
    synthetic_rows: int | None = Field(
        None,
        ge=1,
        description="Rows in each synthetic dataset; unset, as many as the training part.",
    )
    time_in_ae_edges: tuple[int, ...] = Field(
        DEFAULT_TIME_IN_AE_EDGES,
        description="Time in A&E's public bins, as whole-minute edges separated by commas: the "
        "public domain of the one number in the data; stays outside are clipped into the end "
        "bins.",
    )
    modes: tuple[Mode, ...] = Field(
        MODES,
        description="Which synthesis modes run, by name, separated by commas; each makes a "
        "description and a synthetic dataset.",
    )
    engine: Engine = Field(
        DEFAULT_ENGINE,
        description="Who runs the random, independent and correlated modes: datasynthesizer "
        "(the package) or fast (its algorithms vectorised, in domain/histograms.py and "
        "domain/privbayes.py, with add/remove accounting); both read and write the same "
        "description format.",
    )
    association_threshold: float = Field(
        DEFAULT_ASSOCIATION_THRESHOLD,
        ge=0,
        lt=1,
        description="A pair of columns whose bias-corrected Cramér's V in the training data is "
        "above this counts as associated: the relations a mode that keeps relations is judged "
        "on.",
    )
    gate_tolerance_1way: float = Field(
        0.10,
        ge=0,
        description="Release gate: how far above its floor a kept column's total variation "
        "distance may be.",
    )
    gate_tolerance_2way: float = Field(
        0.10,
        ge=0,
        description="Release gate: how far above its floor an associated pair's total variation "
        "distance may be.",
    )
    gate_standard_errors: float = Field(
        3.0, ge=0, description="Release gate: allowance for sampling error, in standard errors."
    )
    nightly_stale_only: bool = Field(
        False,
        description="true: the nightly schedule recomputes only stale assets; false: it "
        "regenerates everything from a date-derived seed.",
    )
    deployment: Deployment = Field(
        "local",
        description="Where steps run: local (on this machine), cluster (on Celery workers, "
        "with deploy/cluster-instance.yaml) or kubernetes (one pod per step, with "
        "deploy/kubernetes-instance.yaml).",
    )
    celery_broker: str | None = Field(
        None,
        min_length=1,
        # May hold the broker's password: never printed.
        repr=False,
        description="The cluster deployment's Celery broker and result store, as a URL "
        "(redis://:password@host:6379/0); the workers read the same variable.",
    )
    executor: Executor = Field(
        "auto",
        description="How a local deployment runs its steps: in_process (one after another in "
        "the run's own process), multiprocess (in parallel processes, one per step), or auto "
        "(in_process up to 1,000,000 rows, multiprocess above).",
    )
    max_quarantine_share: float = Field(
        0.05,
        ge=0,
        le=1,
        description="The largest share of attendances the postcode join may set aside before "
        "the pipeline stops: more means the directory does not fit the data.",
    )

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as error:
            # from None: pydantic's own report shows each bad input, the pseudonym key's too.
            raise SettingsError(_validation_message(error, values)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Settings built in code are exactly what they say, whatever the shell exports; the
        # environment is read only through from_env.
        return (init_settings,)

    @field_validator("modes", "time_in_ae_edges", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("modes")
    @classmethod
    def _each_mode_once_in_registry_order(cls, modes: tuple[Mode, ...]) -> tuple[Mode, ...]:
        if not modes or len(set(modes)) < len(modes):
            raise ValueError(
                f"must name one or more of {list(MODES)}, each once, separated by commas; "
                f"got {','.join(modes)!r}"
            )
        # The same set of modes, named in any order, gives the same code versions.
        return tuple(sorted(modes, key=MODES.index))

    @field_validator("time_in_ae_edges")
    @classmethod
    def _usable_bins(cls, edges: tuple[int, ...]) -> tuple[int, ...]:
        try:
            public_domain([], edges)
        except DomainError as problem:
            raise ValueError(f"must make usable bins: {problem}") from None
        return edges

    @field_validator("domain")
    @classmethod
    def _readable_domain_file(cls, path: str | None) -> str | None:
        if path is not None:
            try:
                read_domain_file(path)
            except DomainFileError as problem:
                raise ValueError(f"is not a usable domain file: {problem}") from None
        return path

    @model_validator(mode="after")
    def _domain_belongs_to_attendances(self) -> Settings:
        if self.domain is not None and self.attendances is None:
            raise ValueError(
                f"{variable('domain')} declares the domain of your own attendances: set "
                f"{variable('attendances')} too, or leave it unset for the mock"
            )
        return self

    @model_validator(mode="after")
    def _bins_fit_the_longest_stay(self) -> Settings:
        try:
            public_domain([], self.time_in_ae_edges, self.attendance_domain())
        except DomainError as problem:
            raise ValueError(
                f"{variable('time_in_ae_edges')} must make usable bins within the declared "
                f"domain: {problem}"
            ) from None
        return self

    @model_validator(mode="after")
    def _aim_needs_noise(self) -> Settings:
        if "aim" in self.modes and self.epsilon == 0:
            raise ValueError(
                f"aim mode cannot run without noise ({variable('epsilon')}=0): give a positive "
                f"ε, or leave aim out of {variable('modes')}"
            )
        return self

    @model_validator(mode="after")
    def _cluster_needs_a_broker(self) -> Settings:
        if self.deployment == "cluster" and self.celery_broker is None:
            raise ValueError(
                f"{variable('deployment')}=cluster needs {variable('celery_broker')}: the URL "
                "of the broker its workers listen to"
            )
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Settings from the environment; unset or empty variables take their defaults."""
        given = {
            name: value.strip()
            for name, value in environ.items()
            if name.startswith(PREFIX) and value.strip()
        }
        for retired, replacement in RETIRED_VARIABLES.items():
            if retired in given:
                raise SettingsError(f"{retired} is no longer used: {replacement}")
        values = _GivenEnvironment(cls, given)()
        values["data_lake"] = absolute_location(
            values.get("data_lake", cls.model_fields["data_lake"].default)
        )
        for name in ("attendances", "domain"):
            if name in values:
                values[name] = absolute_location(values[name])
        return cls(**values)

    def attendance_domain(self) -> AttendanceDomain:
        """What is declared public about the attendances: the domain file's, or the mock's."""
        return MOCK_DOMAIN if self.domain is None else read_domain_file(self.domain)

    def gate_thresholds(self) -> GateThresholds:
        return GateThresholds(
            tolerance_1way=self.gate_tolerance_1way,
            tolerance_2way=self.gate_tolerance_2way,
            standard_errors=self.gate_standard_errors,
        )

    def fingerprint(self, *names: str) -> str:
        """A short hash of the named parameters, for code versions.

        A postcode or attendances file contributes its path, size and modification time, so
        replacing the file makes what it feeds stale; a domain file its content; the pseudonym
        key only its own hash.
        """
        parts: dict[str, object] = {}
        for name in names:
            value = getattr(self, name)
            if name in ("postcodes", "attendances") and value is not None:
                value = _file_identity(value)
            elif name == "domain" and value is not None:
                value = hashlib.sha256(Path(value).read_bytes()).hexdigest()
            elif name == "pseudonym_key" and value is not None:
                value = hashlib.sha256(value.encode("utf-8")).hexdigest()
            parts[name] = value
        encoded = json.dumps(parts, sort_keys=True).encode("utf-8")
        return hashlib.sha256(encoded).hexdigest()[:12]


ENVIRONMENT_VARIABLES = {name: variable(name) for name in Settings.model_fields}


def _file_identity(location: str) -> list[object]:
    """A file's location, size and modification time (None for a file that is not there)."""
    path = UPath(location)
    try:
        stat = path.stat()
    except OSError:
        return [location, None, None]
    modified = getattr(stat, "st_mtime_ns", None)
    if modified is None:
        # Object stores report a modification time, if at all, in their own way.
        modified = str(getattr(stat, "st_mtime", None))
    return [location, stat.st_size, modified]


class _GivenEnvironment(EnvSettingsSource):
    """pydantic-settings' environment source, over a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty)


_TYPE_RULES = {
    "int_parsing": ("a whole number", "whole numbers"),
    "int_from_float": ("a whole number", "whole numbers"),
    "int_type": ("a whole number", "whole numbers"),
    "float_parsing": ("a number", "numbers"),
    "float_type": ("a number", "numbers"),
    "finite_number": ("a finite number", "finite numbers"),
    "bool_parsing": ("true or false", "true or false"),
    "bool_type": ("true or false", "true or false"),
    "string_type": ("text", "text"),
}
_RANGE_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _validation_message(error: ValidationError, given: Mapping[str, object]) -> str:
    """One line naming each variable at fault, its rule and the value given for it."""
    # A list with several bad items is one problem, told once.
    problems = dict.fromkeys(_problem(detail, given) for detail in error.errors())
    return "; ".join(problems)


def _problem(detail: Any, given: Mapping[str, object]) -> str:
    if not detail["loc"]:
        # A rule across parameters, whose message names its own variables.
        return str(detail["ctx"]["error"])
    name, *within_list = detail["loc"]
    field = Settings.model_fields.get(str(name))
    if field is None:
        return f"{name} is not a setting"
    value = given.get(name, detail["input"])
    kind = detail["type"]
    if kind == "value_error":
        return f"{variable(name)} {detail['ctx']['error']}"
    if kind in _RANGE_ERRORS:
        rule, shown = f"must be {_range_rule(field)}", f"{value}"
    elif kind == "literal_error":
        choices = list(_choices(field.annotation))
        if within_list:
            rule = f"must name one or more of {choices}, separated by commas"
        else:
            rule = f"must be one of {choices}"
        shown = repr(value)
    elif kind == "string_too_short":
        rule, shown = "must not be empty", repr(value)
    elif kind in _TYPE_RULES:
        one, many = _TYPE_RULES[kind]
        rule = f"must be {many} separated by commas" if within_list else f"must be {one}"
        shown = repr(value)
    else:
        rule, shown = f"is not usable ({detail['msg']})", repr(value)
    if field.repr is False:
        return f"{variable(name)} {rule}"
    return f"{variable(name)} {rule}, got {shown}"


def _range_rule(field: FieldInfo) -> str:
    limits: dict[str, object] = {}
    for constraint in field.metadata:
        for bound in ("ge", "gt", "le", "lt"):
            if hasattr(constraint, bound):
                limits[bound] = getattr(constraint, bound)
    match limits:
        case {"gt": low, "lt": high}:
            return f"between {low} and {high} (exclusive)"
        case {"ge": low, "le": high}:
            return f"between {low} and {high}"
        case {"ge": 0} if len(limits) == 1:
            return "0 or positive"
        case {"gt": 0} if len(limits) == 1:
            return "positive"
    lower = [f"at least {limits['ge']}"] if "ge" in limits else []
    lower += [f"above {limits['gt']}"] if "gt" in limits else []
    upper = [f"at most {limits['le']}"] if "le" in limits else []
    upper += [f"below {limits['lt']}"] if "lt" in limits else []
    return " and ".join(lower + upper)


def _choices(annotation: object) -> tuple[object, ...]:
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    return tuple(choice for inner in get_args(annotation) for choice in _choices(inner))


def absolute_location(location: str) -> str:
    """A local path made absolute (so every process agrees on it); URLs are left as they are."""
    if "://" in location:
        return location
    return str(Path(location).expanduser().resolve())
