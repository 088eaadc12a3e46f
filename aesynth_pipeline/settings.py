"""The pipeline's parameters, in one place, read from AESYNTH_* environment variables.

The same object drives the command line, the web UI and schedules: the definitions are
built from it, and each asset's code version carries a hash of the parameters it depends
on, so changing one parameter makes exactly the assets that use it stale.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aesynth_pipeline.columns import DEIDENTIFIED_COLUMNS
from aesynth_pipeline.domain.aim import DEFAULT_DELTA, DEFAULT_MAX_MODEL_SIZE_MB
from aesynth_pipeline.domain.deidentify import IMD_DECILE_METHODS, ImdDecileMethod
from aesynth_pipeline.domain.fidelity import DEFAULT_ASSOCIATION_THRESHOLD
from aesynth_pipeline.domain.gate import GateThresholds
from aesynth_pipeline.domain.geography import DEFAULT_POSTCODE_COUNT
from aesynth_pipeline.domain.modes import MODES
from aesynth_pipeline.domain.public_domain import (
    DEFAULT_TIME_IN_AE_EDGES,
    DomainError,
    public_domain,
)
from aesynth_pipeline.domain.synthesise import DEFAULT_ENGINE, ENGINES, Engine

ENVIRONMENT_VARIABLES = {
    "rows": "AESYNTH_ROWS",
    "seed": "AESYNTH_SEED",
    "postcodes": "AESYNTH_POSTCODES",
    "postcode_count": "AESYNTH_POSTCODE_COUNT",
    "data_lake": "AESYNTH_DATA_LAKE",
    "imd_deciles": "AESYNTH_IMD_DECILES",
    "pseudonym_key": "AESYNTH_PSEUDONYM_KEY",
    "holdout_share": "AESYNTH_HOLDOUT_SHARE",
    "epsilon": "AESYNTH_EPSILON",
    "bn_degree": "AESYNTH_BN_DEGREE",
    "delta": "AESYNTH_DELTA",
    "aim_max_model_size_mb": "AESYNTH_AIM_MAX_MODEL_SIZE_MB",
    "engine": "AESYNTH_ENGINE",
    "synthetic_rows": "AESYNTH_SYNTHETIC_ROWS",
    "time_in_ae_edges": "AESYNTH_TIME_IN_AE_EDGES",
    "modes": "AESYNTH_MODES",
    "association_threshold": "AESYNTH_ASSOCIATION_THRESHOLD",
    "gate_tolerance_1way": "AESYNTH_GATE_TOLERANCE_1WAY",
    "gate_tolerance_2way": "AESYNTH_GATE_TOLERANCE_2WAY",
    "gate_standard_errors": "AESYNTH_GATE_STANDARD_ERRORS",
    "nightly_stale_only": "AESYNTH_NIGHTLY_STALE_ONLY",
    "deployment": "AESYNTH_DEPLOYMENT",
    "max_quarantine_share": "AESYNTH_MAX_QUARANTINE_SHARE",
}
# Variables an earlier version read; set, they would silently change nothing.
RETIRED_VARIABLES = {
    "AESYNTH_GATE_MAX_TVD_2WAY": "the fidelity rules now compare each distribution with its "
    "floor; set AESYNTH_GATE_TOLERANCE_1WAY and AESYNTH_GATE_TOLERANCE_2WAY instead",
}
DEPLOYMENTS = ("local", "kubernetes")
_BOOLEANS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
_INTEGERS = ("rows", "seed", "postcode_count", "bn_degree", "synthetic_rows")
_FLOATS = (
    "holdout_share",
    "epsilon",
    "delta",
    "aim_max_model_size_mb",
    "association_threshold",
    "gate_tolerance_1way",
    "gate_tolerance_2way",
    "gate_standard_errors",
    "max_quarantine_share",
)


class SettingsError(ValueError):
    """An AESYNTH_* environment variable whose value cannot be used."""


@dataclass(frozen=True)
class Settings:
    rows: int = 10_000
    seed: int = 42
    postcodes: str | None = None
    postcode_count: int = DEFAULT_POSTCODE_COUNT
    data_lake: str = "data_lake"
    imd_deciles: ImdDecileMethod = "national"
    # A secret: never printed, and hashed before it goes into a code version.
    pseudonym_key: str | None = field(default=None, repr=False)
    # Synthesis: the share of de-identified rows held out from the synthesiser, the
    # differential-privacy budget (smaller = more noise = more privacy; 0 = no noise), the
    # Bayesian network's parents per node, and rows to synthesise (None = as many as trained on).
    holdout_share: float = 0.2
    epsilon: float = 1.0
    bn_degree: int = 1
    # AIM's δ: it works under ρ-zCDP, and the ρ it spends is the largest whose guarantee is
    # (ε, δ)-differential privacy. Its model may grow to this many megabytes of marginals.
    delta: float = DEFAULT_DELTA
    aim_max_model_size_mb: float = DEFAULT_MAX_MODEL_SIZE_MB
    synthetic_rows: int | None = None
    # The bins every synthesiser sees Time in A&E in, as whole-minute edges: the public
    # domain of the one number in the data (stays outside it are clipped into the end bins).
    time_in_ae_edges: tuple[int, ...] = DEFAULT_TIME_IN_AE_EDGES
    # Which synthesis modes run (each a description and a synthetic dataset), in the
    # registry's order.
    modes: tuple[str, ...] = MODES
    # Who runs the correlated mode: "fast" (the vectorised PrivBayes in domain/privbayes.py)
    # or "datasynthesizer" (the package itself); both read and write the same description.
    engine: Engine = DEFAULT_ENGINE
    # Which pairs of columns count as associated in the training data (bias-corrected
    # Cramér's V above this): the relations a mode that keeps relations is judged on.
    association_threshold: float = DEFAULT_ASSOCIATION_THRESHOLD
    # The release gate: how far beyond its floor a kept column's (1-way) or associated
    # pair's (2-way) total variation distance may be, and the allowance for sampling error
    # in standard errors.
    gate_tolerance_1way: float = 0.10
    gate_tolerance_2way: float = 0.10
    gate_standard_errors: float = 3.0
    # The nightly schedule: regenerate everything from a date-derived seed (default), or
    # recompute only stale assets.
    nightly_stale_only: bool = False
    # Where steps run: "local" (one process per step on this machine) or "kubernetes" (one
    # pod per step, with deploy/dagster.yaml).
    deployment: str = "local"
    # The largest share of attendances the postcode join may set aside before the pipeline
    # stops: more means the directory does not fit the data.
    max_quarantine_share: float = 0.05

    def __post_init__(self) -> None:
        for name in ("rows", "postcode_count"):
            if getattr(self, name) < 1:
                raise SettingsError(
                    f"{ENVIRONMENT_VARIABLES[name]} must be at least 1, got {getattr(self, name)}"
                )
        if self.imd_deciles not in IMD_DECILE_METHODS:
            variable = ENVIRONMENT_VARIABLES["imd_deciles"]
            raise SettingsError(
                f"{variable} must be one of {list(IMD_DECILE_METHODS)}, got {self.imd_deciles!r}"
            )
        if not 0 < self.holdout_share < 1:
            raise SettingsError(
                f"{ENVIRONMENT_VARIABLES['holdout_share']} must be between 0 and 1 (exclusive), "
                f"got {self.holdout_share}"
            )
        if not (math.isfinite(self.epsilon) and self.epsilon >= 0):
            raise SettingsError(
                f"{ENVIRONMENT_VARIABLES['epsilon']} must be 0 (no noise) or positive, "
                f"got {self.epsilon}"
            )
        if not 1 <= self.bn_degree < len(DEIDENTIFIED_COLUMNS):
            raise SettingsError(
                f"{ENVIRONMENT_VARIABLES['bn_degree']} must be at least 1 and below the number of "
                f"attributes ({len(DEIDENTIFIED_COLUMNS)}), got {self.bn_degree}"
            )
        if not 0 < self.delta < 1:
            raise SettingsError(
                f"{ENVIRONMENT_VARIABLES['delta']} must be between 0 and 1 (exclusive), "
                f"got {self.delta}"
            )
        if not (math.isfinite(self.aim_max_model_size_mb) and self.aim_max_model_size_mb > 0):
            raise SettingsError(
                f"{ENVIRONMENT_VARIABLES['aim_max_model_size_mb']} must be a positive number of "
                f"megabytes, got {self.aim_max_model_size_mb}"
            )
        if self.engine not in ENGINES:
            raise SettingsError(
                f"{ENVIRONMENT_VARIABLES['engine']} must be one of {list(ENGINES)}, "
                f"got {self.engine!r}"
            )
        unknown = [mode for mode in self.modes if mode not in MODES]
        if unknown or not self.modes or len(set(self.modes)) < len(self.modes):
            raise SettingsError(
                f"{ENVIRONMENT_VARIABLES['modes']} must name one or more of {list(MODES)}, "
                f"each once, separated by commas; got {','.join(self.modes)!r}"
            )
        if "aim" in self.modes and self.epsilon == 0:
            raise SettingsError(
                f"aim mode cannot run without noise ({ENVIRONMENT_VARIABLES['epsilon']}=0): "
                f"give a positive ε, or leave aim out of {ENVIRONMENT_VARIABLES['modes']}"
            )
        try:
            public_domain([], self.time_in_ae_edges)
        except DomainError as problem:
            raise SettingsError(f"{ENVIRONMENT_VARIABLES['time_in_ae_edges']}: {problem}") from None
        if self.synthetic_rows is not None and self.synthetic_rows < 1:
            raise SettingsError(
                f"{ENVIRONMENT_VARIABLES['synthetic_rows']} must be at least 1, "
                f"got {self.synthetic_rows}"
            )
        for name in ("gate_tolerance_1way", "gate_tolerance_2way", "gate_standard_errors"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise SettingsError(
                    f"{ENVIRONMENT_VARIABLES[name]} must be 0 or positive, got {value}"
                )
        if not 0 <= self.association_threshold < 1:
            raise SettingsError(
                f"{ENVIRONMENT_VARIABLES['association_threshold']} must be at least 0 and below "
                f"1, got {self.association_threshold}"
            )
        if not 0 <= self.max_quarantine_share <= 1:
            raise SettingsError(
                f"{ENVIRONMENT_VARIABLES['max_quarantine_share']} must be between 0 and 1, "
                f"got {self.max_quarantine_share}"
            )
        if self.deployment not in DEPLOYMENTS:
            raise SettingsError(
                f"{ENVIRONMENT_VARIABLES['deployment']} must be one of {list(DEPLOYMENTS)}, "
                f"got {self.deployment!r}"
            )
        if self.pseudonym_key is not None and not self.pseudonym_key:
            raise SettingsError(f"{ENVIRONMENT_VARIABLES['pseudonym_key']} is set but empty")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Settings from the environment; unset or empty variables take their defaults."""
        for variable, replacement in RETIRED_VARIABLES.items():
            if environ.get(variable, "").strip():
                raise SettingsError(f"{variable} is no longer used: {replacement}")
        values: dict[str, object] = {}
        for name, variable in ENVIRONMENT_VARIABLES.items():
            text = environ.get(variable, "").strip()
            if not text:
                continue
            values[name] = _parse(name, variable, text)
        settings = cls(**values)
        return dataclasses.replace(settings, data_lake=absolute_location(settings.data_lake))

    def gate_thresholds(self) -> GateThresholds:
        return GateThresholds(
            tolerance_1way=self.gate_tolerance_1way,
            tolerance_2way=self.gate_tolerance_2way,
            standard_errors=self.gate_standard_errors,
        )

    def fingerprint(self, *names: str) -> str:
        """A short hash of the named parameters, for code versions.

        A postcode file contributes its path, size and modification time, so replacing the
        file makes the directory stale; the pseudonym key contributes only its own hash.
        """
        parts: dict[str, object] = {}
        for name in names:
            value = getattr(self, name)
            if name == "postcodes" and value is not None:
                path = Path(value)
                stat = path.stat() if path.is_file() else None
                value = [
                    str(path),
                    stat.st_size if stat else None,
                    stat.st_mtime_ns if stat else None,
                ]
            elif name == "pseudonym_key" and value is not None:
                value = hashlib.sha256(value.encode("utf-8")).hexdigest()
            parts[name] = value
        encoded = json.dumps(parts, sort_keys=True).encode("utf-8")
        return hashlib.sha256(encoded).hexdigest()[:12]


def _parse(name: str, variable: str, text: str) -> object:
    if name in _INTEGERS:
        try:
            return int(text)
        except ValueError:
            raise SettingsError(f"{variable} must be a whole number, got {text!r}") from None
    if name in _FLOATS:
        try:
            return float(text)
        except ValueError:
            raise SettingsError(f"{variable} must be a number, got {text!r}") from None
    if name == "time_in_ae_edges":
        try:
            return tuple(int(edge) for edge in text.split(","))
        except ValueError:
            raise SettingsError(
                f"{variable} must be whole minutes separated by commas, got {text!r}"
            ) from None
    if name == "modes":
        named = [mode.strip() for mode in text.split(",") if mode.strip()]
        # Registry order, whatever order they were named in, so that the same set of modes
        # always gives the same code versions.
        return tuple(sorted(named, key=lambda mode: MODES.index(mode) if mode in MODES else 99))
    if name == "nightly_stale_only":
        if text.lower() not in _BOOLEANS:
            raise SettingsError(f"{variable} must be true or false, got {text!r}")
        return _BOOLEANS[text.lower()]
    return text


def absolute_location(location: str) -> str:
    """A local path made absolute (so every process agrees on it); URLs are left as they are."""
    if "://" in location:
        return location
    return str(Path(location).expanduser().resolve())
