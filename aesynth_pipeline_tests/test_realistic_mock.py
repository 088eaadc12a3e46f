"""The realistic mock profile: the tutorial's columns and domains, with the dependencies of
real attendances, proven over several seeds."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from aesynth_pipeline import columns as c
from aesynth_pipeline.checks import schema_failures
from aesynth_pipeline.domain import realistic_mock as realistic
from aesynth_pipeline.domain.deidentify import deidentify, join_postcode_directory
from aesynth_pipeline.domain.encoding import code_frames, time_bin_edges
from aesynth_pipeline.domain.fidelity import DEFAULT_ASSOCIATION_THRESHOLD, cramers_v
from aesynth_pipeline.domain.generate import HOSPITALS
from aesynth_pipeline.domain.geography import generate_postcode_directory
from aesynth_pipeline.domain.mock_profiles import mock_attendances
from aesynth_pipeline.schemas import HospitalAeData

SEEDS = tuple(range(1, 11))
ROWS = 10_000
# The dependencies the profile is built with, each a pair of de-identified columns.
BUILT_IN = {
    (c.TREATMENT, c.AGE_BRACKET),
    (c.HOSPITAL_ID, c.AGE_BRACKET),
    (c.TIME_IN_AE, c.TREATMENT),
    (c.TIME_IN_AE, c.AGE_BRACKET),
    (c.TIME_IN_AE, c.ARRIVAL_HOUR_RANGE),
    (c.IMD_DECILE, c.HOSPITAL_ID),
    (c.ARRIVAL_HOUR_RANGE, c.AGE_BRACKET),
    (c.ARRIVAL_DATE, c.ARRIVAL_HOUR_RANGE),
}


def associations(deidentified: pd.DataFrame) -> dict[tuple[str, str], float]:
    """Bias-corrected Cramér's V of every pair, Time in A&E in the evaluation's ten bins."""
    coded = code_frames([deidentified], time_bin_edges(deidentified[c.TIME_IN_AE]))
    codes, sizes = coded.binned[0], coded.binned_sizes
    result = {}
    for i, j in itertools.combinations(range(len(c.DEIDENTIFIED_COLUMNS)), 2):
        joint = np.zeros((sizes[i], sizes[j]))
        np.add.at(joint, (codes[:, i], codes[:, j]), 1)
        pair = (c.DEIDENTIFIED_COLUMNS[i], c.DEIDENTIFIED_COLUMNS[j])
        result[pair] = cramers_v(joint / len(codes), len(codes))
    return result


@pytest.fixture(scope="module")
def draws() -> dict[tuple[str, int], tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]:
    """Each profile's attendances, directory and de-identified rows for every seed."""
    result = {}
    for seed in SEEDS:
        directory = generate_postcode_directory(seed, 20_000)
        for profile in ("tutorial", "realistic"):
            attendances = mock_attendances(directory, ROWS, seed, profile)
            joined, _ = join_postcode_directory(attendances, directory)
            result[profile, seed] = (attendances, directory, deidentify(joined, b"k").data)
    return result


def test_realistic_profile_has_at_least_eight_associated_pairs_at_10k_rows(draws):
    for seed in SEEDS:
        strength = associations(draws["realistic", seed][2])
        associated = {pair for pair, v in strength.items() if v > DEFAULT_ASSOCIATION_THRESHOLD}
        assert len(associated) >= 8, (seed, sorted(associated))
        assert associated >= BUILT_IN, (seed, BUILT_IN - associated)
        # The tutorial's mock, on the same directory and seed, has its two.
        tutorial = associations(draws["tutorial", seed][2])
        assert sum(v > DEFAULT_ASSOCIATION_THRESHOLD for v in tutorial.values()) == 2


def test_realistic_profile_keeps_the_mock_s_columns_domains_and_determinism(draws):
    attendances, directory, _ = draws["realistic", 1]
    assert schema_failures(HospitalAeData, attendances, True) is None
    again = mock_attendances(directory, ROWS, 1, "realistic")
    pd.testing.assert_frame_equal(attendances, again)
    assert not attendances.equals(mock_attendances(directory, ROWS, 2, "realistic"))


def test_most_patients_live_in_their_hospital_s_borough(draws):
    shares = []
    for seed in SEEDS:
        attendances, directory, _ = draws["realistic", seed]
        borough = attendances[c.POSTCODE].map(directory.set_index(c.POSTCODE)[c.DISTRICT])
        home = attendances[c.HOSPITAL].map(realistic.HOME_BOROUGHS)
        shares.append((borough == home).mean())
    # CATCHMENT_SHARE from the borough, plus those of the rest who live there by chance.
    assert realistic.CATCHMENT_SHARE < np.mean(shares) < realistic.CATCHMENT_SHARE + 0.02
    assert set(realistic.HOME_BOROUGHS) == set(HOSPITALS)


def test_weekends_bring_more_young_adults_and_stays_grow_with_age(draws):
    ratios, children, oldest = [], [], []
    for seed in SEEDS:
        attendances = draws["realistic", seed][0]
        weekend = attendances[c.ARRIVAL_TIME].dt.dayofweek >= 5
        young = attendances[c.AGE].between(18, 44)
        ratios.append(young[weekend].mean() / young[~weekend].mean())
        stay = np.log(attendances[c.TIME_IN_AE])
        children.append(stay[attendances[c.AGE] < 18].mean())
        oldest.append(stay[attendances[c.AGE] >= 85].mean())
    assert 1.2 < np.mean(ratios) < realistic.WEEKEND_YOUNG_ADULT_FACTOR
    difference = realistic.AGE_BAND_STAY[-1] - realistic.AGE_BAND_STAY[0]
    assert np.mean(oldest) - np.mean(children) == pytest.approx(difference, abs=0.15)
