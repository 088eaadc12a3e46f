"""De-identification: band and decile edges, pseudonyms, the join's quarantine, the gender rule."""

from __future__ import annotations

import hashlib
import hmac

import pandas as pd
import pytest

from aesynth_pipeline import columns as c
from aesynth_pipeline.domain.deidentify import (
    NO_IMD_RANK,
    NOT_IN_DIRECTORY,
    age_bracket,
    arrival_hour_range,
    deidentify,
    hospital_pseudonyms,
    join_postcode_directory,
    london_imd_decile,
    national_imd_decile,
)
from aesynth_pipeline.domain.generate import generate_attendances
from aesynth_pipeline.domain.geography import generate_postcode_directory


@pytest.mark.parametrize(
    ("age", "bracket"),
    [(0, "0-17"), (17, "0-17"), (18, "18-24"), (24, "18-24"), (25, "25-44"), (44, "25-44"),
     (45, "45-64"), (64, "45-64"), (65, "65-84"), (84, "65-84"), (85, "85-"), (120, "85-")],
)  # fmt: skip
def test_age_brackets_are_left_closed(age, bracket):
    assert age_bracket(pd.Series([age]))[0] == bracket


@pytest.mark.parametrize(
    ("time", "hour_range"),
    [("00:00:00", "00-03"), ("03:59:59", "00-03"), ("04:00:00", "04-07"), ("07:59:59", "04-07"),
     ("08:00:00", "08-11"), ("15:00:00", "12-15"), ("16:00:00", "16-19"), ("23:59:59", "20-23")],
)  # fmt: skip
def test_arrival_hour_ranges_hold_the_hours_they_name(time, hour_range):
    assert arrival_hour_range(pd.Series(pd.to_datetime([f"2019-04-01 {time}"])))[0] == hour_range


# The published IMD 2019 decile boundaries: decile d holds these ranks.
NATIONAL_DECILE_RANKS = {
    1: (1, 3_284), 2: (3_285, 6_568), 3: (6_569, 9_853), 4: (9_854, 13_137),
    5: (13_138, 16_422), 6: (16_423, 19_706), 7: (19_707, 22_990), 8: (22_991, 26_275),
    9: (26_276, 29_559), 10: (29_560, 32_844),
}  # fmt: skip


@pytest.mark.parametrize("decile", list(NATIONAL_DECILE_RANKS))
def test_national_deciles_match_the_published_rank_boundaries(decile):
    first, last = NATIONAL_DECILE_RANKS[decile]
    assert national_imd_decile(pd.Series([first, last])).tolist() == [decile, decile]


def test_london_deciles_split_the_directory_ranks_into_tenths():
    directory_ranks = pd.Series(range(1, 1_001))
    deciles = london_imd_decile(directory_ranks, directory_ranks)
    assert deciles.value_counts().sort_index().tolist() == [100] * 10
    assert deciles.iloc[0] == 1 and deciles.iloc[-1] == 10


def test_pseudonyms_are_unique_stable_and_keyed_even_when_hashes_collide():
    names = [f"Hospital {i}" for i in range(5_000)]
    first_hashes = [
        int.from_bytes(hmac.new(b"key", n.encode(), hashlib.sha256).digest()[:8], "big") % 10**6
        for n in names
    ]
    assert len(set(first_hashes)) < len(names), "the names must collide to exercise the rule"
    pseudonyms = hospital_pseudonyms(names, b"key")
    assert len(set(pseudonyms.values())) == len(names)
    assert all(p.startswith("H") and len(p) == 7 and p[1:].isdigit() for p in pseudonyms.values())
    assert hospital_pseudonyms(reversed(names), b"key") == pseudonyms
    assert hospital_pseudonyms(names, b"another key") != pseudonyms


def test_unplaceable_postcodes_are_quarantined_with_their_reason_not_dropped():
    directory = generate_postcode_directory(seed=3, postcode_count=2_000)
    attendances = generate_attendances(directory, rows=3_000, seed=3)
    unranked_postcode = attendances[c.POSTCODE].iloc[0]
    directory.loc[directory[c.POSTCODE] == unranked_postcode, c.IMD_RANK] = pd.NA
    attendances.loc[[1, 2], c.POSTCODE] = "ZZ9 9ZZ"

    joined, quarantined = join_postcode_directory(attendances, directory)

    unranked_rows = int((attendances[c.POSTCODE] == unranked_postcode).sum())
    assert len(joined) + len(quarantined) == len(attendances)
    assert quarantined[c.QUARANTINE_REASON].value_counts().to_dict() == {
        NOT_IN_DIRECTORY: 2,
        NO_IMD_RANK: unranked_rows,
    }
    assert set(quarantined[c.ATTENDANCE_ID]) | set(joined[c.ATTENDANCE_ID]) == set(
        attendances[c.ATTENDANCE_ID]
    )
    assert c.HEALTH_SERVICE_ID not in joined and c.POSTCODE not in joined
    assert c.HEALTH_SERVICE_ID not in quarantined


def test_only_male_and_female_records_are_kept_and_the_rest_counted():
    directory = generate_postcode_directory(seed=4, postcode_count=2_000)
    joined, _ = join_postcode_directory(generate_attendances(directory, 20_000, 4), directory)
    result = deidentify(joined, b"key")
    assert set(result.data[c.GENDER]) == {"Male", "Female"}
    assert result.removed_by_gender == (~joined[c.GENDER].isin(["Male", "Female"])).sum() > 0
    assert list(result.data.columns) == c.DEIDENTIFIED_COLUMNS
