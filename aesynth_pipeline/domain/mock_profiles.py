"""The mock's profiles: which generator draws the mock attendances."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import pandas as pd

from aesynth_pipeline.domain.generate import generate_attendances
from aesynth_pipeline.domain.realistic_mock import generate_realistic_attendances

MockProfile = Literal["tutorial", "realistic"]
MOCK_PROFILES: tuple[MockProfile, ...] = get_args(MockProfile)
DEFAULT_MOCK_PROFILE: MockProfile = "tutorial"

# tutorial: the seed tutorial's distributions, every column on its own but for age and time
# in A&E; realistic: the same columns and domains, with the dependencies of real attendances.
_GENERATORS: dict[MockProfile, Callable[[pd.DataFrame, int, int], pd.DataFrame]] = {
    "tutorial": generate_attendances,
    "realistic": generate_realistic_attendances,
}


def mock_attendances(
    postcodes: pd.DataFrame, rows: int, seed: int, profile: MockProfile = DEFAULT_MOCK_PROFILE
) -> pd.DataFrame:
    """Mock attendances of the given profile, identical for the same inputs."""
    if profile not in _GENERATORS:
        raise ValueError(f"unknown mock profile {profile!r}; use one of {list(MOCK_PROFILES)}")
    return _GENERATORS[profile](postcodes, rows, seed)
