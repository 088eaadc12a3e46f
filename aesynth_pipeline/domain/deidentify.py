"""From raw attendances to a de-identified dataset.

Two steps, as in the seed tutorial but without its silent row losses and off-by-one bins:
`join_postcode_directory` swaps the postcode for its LSOA and IMD rank (and sets aside the
attendances it cannot place), then `deidentify` drops or coarsens every identifying value.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from aesynth_pipeline.columns import (
    AGE,
    AGE_BRACKET,
    ARRIVAL_DATE,
    ARRIVAL_HOUR_RANGE,
    ARRIVAL_TIME,
    DEIDENTIFIED_COLUMNS,
    GENDER,
    HOSPITAL,
    HOSPITAL_ID,
    IMD_DECILE,
    IMD_RANK,
    LSOA_JOINED_COLUMNS,
    LSOA_NAME,
    POSTCODE,
    QUARANTINE_COLUMNS,
    QUARANTINE_REASON,
    TIME_IN_AE,
    TREATMENT,
)
from aesynth_pipeline.domain.generate import HOSPITALS
from aesynth_pipeline.domain.geography import ENGLISH_LSOA_COUNT

# Left-closed bands: "0-17" holds ages 0 to 17 and "18-24" starts at 18.
AGE_BRACKET_LOWER_EDGES = (0, 18, 25, 45, 65, 85)
AGE_BRACKETS = ("0-17", "18-24", "25-44", "45-64", "65-84", "85-")
# Four-hour ranges: "00-03" holds hours 0 to 3 and "04-07" starts at hour 4.
ARRIVAL_HOUR_RANGES = ("00-03", "04-07", "08-11", "12-15", "16-19", "20-23")
KEPT_GENDERS = ("Male", "Female")
IMD_DECILES = tuple(range(1, 11))

ImdDecileMethod = Literal["national", "london"]
IMD_DECILE_METHODS: tuple[ImdDecileMethod, ...] = ("national", "london")

NOT_IN_DIRECTORY = "postcode not in the postcode directory"
NO_IMD_RANK = "postcode has no LSOA or IMD rank in the directory"
QUARANTINE_REASONS = (NOT_IN_DIRECTORY, NO_IMD_RANK)

HOSPITAL_ID_PATTERN = r"^H[0-9]{6}$"


def join_postcode_directory(
    attendances: pd.DataFrame, directory: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Replace each attendance's NHS number and postcode by its LSOA and IMD rank.

    Returns the joined attendances and, separately, those whose postcode the directory cannot
    place, with the reason; no row is dropped, so the two always add up to the input.
    """
    lookup = directory[[POSTCODE, LSOA_NAME, IMD_RANK]]
    if lookup[POSTCODE].duplicated().any():
        raise ValueError(
            f"the postcode directory lists {int(lookup[POSTCODE].duplicated().sum())} postcode(s) "
            "more than once; each postcode must map to one LSOA"
        )
    # A lookup by position rather than a merge: a merge carries every attendance column
    # through its own reindexing, which took more than half of the join's time.
    positions = pd.Index(lookup[POSTCODE]).get_indexer(attendances[POSTCODE])
    not_in_directory = positions < 0
    lsoa = lookup[LSOA_NAME].array.take(positions, allow_fill=True)
    rank = lookup[IMD_RANK].array.take(positions, allow_fill=True)
    unranked = ~not_in_directory & (pd.isna(lsoa) | pd.isna(rank))
    set_aside = not_in_directory | unranked
    placed = np.flatnonzero(~set_aside)
    own_columns = [column for column in LSOA_JOINED_COLUMNS if column in attendances]
    joined = attendances[own_columns].take(placed).reset_index(drop=True)
    joined[LSOA_NAME] = lsoa[placed]
    joined[IMD_RANK] = rank[placed].astype("int64")
    reasons = np.where(not_in_directory, NOT_IN_DIRECTORY, NO_IMD_RANK)[set_aside]
    quarantined = (
        attendances.take(np.flatnonzero(set_aside))
        .assign(**{QUARANTINE_REASON: reasons})[QUARANTINE_COLUMNS]
        .reset_index(drop=True)
    )
    return joined[LSOA_JOINED_COLUMNS], quarantined


def national_imd_decile(rank: pd.Series) -> pd.Series:
    """England's official IMD decile: 1 holds the most deprived tenth of the 32,844 LSOAs."""
    return (rank.astype("int64") * 10 + ENGLISH_LSOA_COUNT - 1) // ENGLISH_LSOA_COUNT


def london_imd_decile(rank: pd.Series, directory_ranks: pd.Series) -> pd.Series:
    """The seed tutorial's variant: deciles of the ranks found in the postcode directory."""
    _, edges = pd.qcut(directory_ranks.dropna().astype("int64"), 10, retbins=True)
    return pd.cut(rank, bins=edges, labels=False, include_lowest=True).astype("int64") + 1


def hospital_pseudonyms(hospitals: Iterable[str], key: bytes) -> dict[str, str]:
    """A stable 'H' + 6-digit ID per hospital from a keyed hash of its name.

    Without the key the mapping cannot be rebuilt by hashing the public list of hospital
    names. In the rare case two names hash to the same ID, the later name (in sorted order)
    is rehashed with a counter, so IDs stay unique and deterministic.
    """
    taken: dict[str, str] = {}
    pseudonyms: dict[str, str] = {}
    for name in sorted(set(hospitals)):
        attempt = 0
        while True:
            message = name if attempt == 0 else f"{name}\x00{attempt}"
            digest = hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()
            candidate = f"H{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"
            if candidate not in taken:
                break
            attempt += 1
        taken[candidate] = name
        pseudonyms[name] = candidate
    return pseudonyms


def age_bracket(age: pd.Series) -> np.ndarray:
    band = np.searchsorted(AGE_BRACKET_LOWER_EDGES, age.to_numpy(), side="right") - 1
    if (band < 0).any():
        raise ValueError(f"column '{AGE}' has negative ages; ages start at 0")
    return np.array(AGE_BRACKETS, dtype=object)[band]


def arrival_hour_range(arrival: pd.Series) -> np.ndarray:
    return np.array(ARRIVAL_HOUR_RANGES, dtype=object)[arrival.dt.hour.to_numpy() // 4]


def arrival_date(arrival: pd.Series) -> np.ndarray:
    # Each distinct day is formatted once: a year holds 366 of them, a million rows took
    # half a second to format one by one.
    codes, days = pd.factorize(arrival.to_numpy().astype("datetime64[D]"), use_na_sentinel=False)
    return days.astype(str).astype(object)[codes]


@dataclass(frozen=True)
class Deidentified:
    data: pd.DataFrame
    removed_by_gender: int


def deidentify(
    joined: pd.DataFrame,
    pseudonym_key: bytes,
    imd_decile_method: ImdDecileMethod = "national",
    directory_ranks: pd.Series | None = None,
    hospitals: Iterable[str] = HOSPITALS,
) -> Deidentified:
    """Drop or coarsen every identifying value of the LSOA-joined attendances.

    Keeps only Male and Female records (rarer genders would single people out), and returns
    exactly `DEIDENTIFIED_COLUMNS`, in that order. `hospitals` is the declared hospital list.
    """
    if imd_decile_method == "national":
        decile = national_imd_decile(joined[IMD_RANK])
    elif imd_decile_method == "london":
        if directory_ranks is None:
            raise ValueError("London-relative IMD deciles need the directory's ranks")
        decile = london_imd_decile(joined[IMD_RANK], directory_ranks)
    else:
        raise ValueError(
            f"unknown IMD decile method {imd_decile_method!r}; use one of {IMD_DECILE_METHODS}"
        )
    kept = joined[GENDER].isin(KEPT_GENDERS).to_numpy()
    # The declared hospital list too, so each hospital's ID is the one the synthesisers'
    # declared domain holds, whichever hospitals this data happens to include.
    pseudonyms = hospital_pseudonyms({*hospitals, *joined[HOSPITAL].unique()}, pseudonym_key)
    data = pd.DataFrame(
        {
            TIME_IN_AE: joined[TIME_IN_AE].astype("int64"),
            TREATMENT: joined[TREATMENT].astype(object),
            GENDER: joined[GENDER].astype(object),
            IMD_DECILE: decile.astype("int64"),
            HOSPITAL_ID: joined[HOSPITAL].map(pseudonyms).astype(object),
            ARRIVAL_DATE: arrival_date(joined[ARRIVAL_TIME]),
            ARRIVAL_HOUR_RANGE: arrival_hour_range(joined[ARRIVAL_TIME]),
            AGE_BRACKET: age_bracket(joined[AGE]),
        },
        columns=DEIDENTIFIED_COLUMNS,
    )
    return Deidentified(
        data=data.loc[kept].reset_index(drop=True), removed_by_gender=int((~kept).sum())
    )
