"""The pipeline's parameters, in one place, read from AESYNTH_* environment variables.

The same object drives the command line, the web UI and schedules: the definitions are
built from it, and each asset's code version carries a hash of the parameters it depends
on, so changing one parameter makes exactly the assets that use it stale.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aesynth_pipeline.domain.deidentify import IMD_DECILE_METHODS, ImdDecileMethod
from aesynth_pipeline.domain.geography import DEFAULT_POSTCODE_COUNT

ENVIRONMENT_VARIABLES = {
    "rows": "AESYNTH_ROWS",
    "seed": "AESYNTH_SEED",
    "postcodes": "AESYNTH_POSTCODES",
    "postcode_count": "AESYNTH_POSTCODE_COUNT",
    "data_lake": "AESYNTH_DATA_LAKE",
    "imd_deciles": "AESYNTH_IMD_DECILES",
    "pseudonym_key": "AESYNTH_PSEUDONYM_KEY",
}


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
        if self.pseudonym_key is not None and not self.pseudonym_key:
            raise SettingsError(f"{ENVIRONMENT_VARIABLES['pseudonym_key']} is set but empty")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Settings from the environment; unset or empty variables take their defaults."""
        values: dict[str, object] = {}
        for name, variable in ENVIRONMENT_VARIABLES.items():
            text = environ.get(variable, "").strip()
            if not text:
                continue
            if name in ("rows", "seed", "postcode_count"):
                try:
                    values[name] = int(text)
                except ValueError:
                    raise SettingsError(
                        f"{variable} must be a whole number, got {text!r}"
                    ) from None
            else:
                values[name] = text
        settings = cls(**values)
        return dataclasses.replace(settings, data_lake=absolute_location(settings.data_lake))

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


def absolute_location(location: str) -> str:
    """A local path made absolute (so every process agrees on it); URLs are left as they are."""
    if "://" in location:
        return location
    return str(Path(location).expanduser().resolve())
