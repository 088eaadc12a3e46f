"""The London postcode directory: postcode -> LSOA -> Index of Multiple Deprivation rank.

Either read from a real directory file in doogal.co.uk's layout, or generated with the same
columns so that the pipeline runs where the real file is not available.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from aesynth_pipeline.columns import (
    DISTRICT,
    IMD_RANK,
    IN_USE,
    LSOA_CODE,
    LSOA_NAME,
    POSTCODE,
    POSTCODE_DIRECTORY_COLUMNS,
)

# England has 32,844 LSOAs (2011 boundaries), ranked 1 (most deprived) to 32,844 by the IMD.
ENGLISH_LSOA_COUNT = 32_844

# A UK postcode: outward code (area, district, optional sub-district letter), a space, then
# the inward code (sector digit and two unit letters, which never use C, I, K, M, O or V).
POSTCODE_PATTERN = r"^[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][ABD-HJLNP-UW-Z]{2}$"
LSOA_CODE_PATTERN = r"^E01[0-9]{6}$"
IN_USE_VALUES = ("Yes", "No")

LONDON_LOCAL_AUTHORITIES = (
    "Barking and Dagenham", "Barnet", "Bexley", "Brent", "Bromley", "Camden", "City of London",
    "Croydon", "Ealing", "Enfield", "Greenwich", "Hackney", "Hammersmith and Fulham",
    "Haringey", "Harrow", "Havering", "Hillingdon", "Hounslow", "Islington",
    "Kensington and Chelsea", "Kingston upon Thames", "Lambeth", "Lewisham", "Merton",
    "Newham", "Redbridge", "Richmond upon Thames", "Southwark", "Sutton", "Tower Hamlets",
    "Waltham Forest", "Wandsworth", "Westminster",
)  # fmt: skip

# London postcode areas and how many numbered districts each has. The central areas EC and
# WC split their districts with a letter (EC1A, WC2H).
LONDON_POSTCODE_AREAS = {
    "E": 18, "EC": 4, "N": 22, "NW": 11, "SE": 28, "SW": 20, "W": 14, "WC": 2, "BR": 8,
    "CR": 9, "DA": 18, "EN": 11, "HA": 9, "IG": 11, "KT": 24, "RM": 20, "SM": 7, "TW": 20,
    "UB": 11, "WD": 25,
}  # fmt: skip
_SUB_DISTRICT_AREAS = {"EC", "WC"}
_SUB_DISTRICT_LETTERS = list("ABCHMNPRVWXY")
_INWARD_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))

DEFAULT_POSTCODE_COUNT = 50_000
_TERMINATED_SHARE = 0.2
_CITY_OF_LONDON_LSOAS = 6
_LSOAS_PER_MSOA = 5


class PostcodeDirectoryError(ValueError):
    """A postcode directory file that cannot be used, with the file, column and values at fault."""


def generate_postcode_directory(
    seed: int, postcode_count: int = DEFAULT_POSTCODE_COUNT
) -> pd.DataFrame:
    """A made-up London postcode directory, identical for the same seed.

    The 33 London local authorities each get LSOAs named like "Hackney 011D" with codes
    E01xxxxxx and distinct IMD ranks; every postcode district belongs to one local authority,
    and each postcode lies in an LSOA of that authority. About a fifth are terminated.
    """
    if postcode_count < 1:
        raise ValueError(f"postcode_count must be at least 1, got {postcode_count}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    lsoas = _generate_lsoas(rng)
    districts = _postcode_districts()
    district_authority = rng.integers(0, len(LONDON_LOCAL_AUTHORITIES), size=len(districts))

    postcodes = _unique_postcodes(rng, districts, postcode_count)
    district_index = postcodes["district_index"].to_numpy()
    authority = district_authority[district_index]
    first_lsoa = lsoas.groupby("authority")["row"].min().to_numpy()
    lsoa_count = lsoas.groupby("authority")["row"].size().to_numpy()
    lsoa_row = first_lsoa[authority] + (rng.random(len(postcodes)) * lsoa_count[authority]).astype(
        int
    )
    in_use = np.where(rng.random(len(postcodes)) < _TERMINATED_SHARE, "No", "Yes")

    chosen = lsoas.iloc[lsoa_row]
    return pd.DataFrame(
        {
            POSTCODE: postcodes[POSTCODE].to_numpy(),
            IN_USE: in_use,
            LSOA_NAME: chosen[LSOA_NAME].to_numpy(),
            LSOA_CODE: chosen[LSOA_CODE].to_numpy(),
            IMD_RANK: pd.array(chosen[IMD_RANK].to_numpy(), dtype="Int64"),
            DISTRICT: chosen[DISTRICT].to_numpy(),
        }
    )


def _generate_lsoas(rng: np.random.Generator) -> pd.DataFrame:
    authority_count = len(LONDON_LOCAL_AUTHORITIES)
    counts = rng.integers(110, 191, size=authority_count)
    counts[LONDON_LOCAL_AUTHORITIES.index("City of London")] = _CITY_OF_LONDON_LSOAS
    authority = np.repeat(np.arange(authority_count), counts)
    position = np.arange(len(authority)) - np.repeat(np.cumsum(counts) - counts, counts)
    msoa_number = pd.Series(position // _LSOAS_PER_MSOA + 1).astype(str).str.zfill(3)
    letter = pd.Series(np.array(list("ABCDE"))[position % _LSOAS_PER_MSOA])
    district_name = pd.Series(np.array(LONDON_LOCAL_AUTHORITIES)[authority])
    return pd.DataFrame(
        {
            "row": np.arange(len(authority)),
            "authority": authority,
            DISTRICT: district_name,
            LSOA_NAME: district_name + " " + msoa_number + letter,
            LSOA_CODE: "E01" + pd.Series(np.arange(1, len(authority) + 1)).astype(str).str.zfill(6),
            IMD_RANK: rng.choice(ENGLISH_LSOA_COUNT, size=len(authority), replace=False) + 1,
        }
    )


def _postcode_districts() -> np.ndarray:
    districts = []
    for area, count in LONDON_POSTCODE_AREAS.items():
        for number in range(1, count + 1):
            if area in _SUB_DISTRICT_AREAS:
                districts.extend(f"{area}{number}{letter}" for letter in _SUB_DISTRICT_LETTERS)
            else:
                districts.append(f"{area}{number}")
    return np.array(districts)


def _unique_postcodes(rng: np.random.Generator, districts: np.ndarray, count: int) -> pd.DataFrame:
    # Each district holds 10 sectors x 400 units = 4,000 possible postcodes, so drawing a
    # fifth more than needed and dropping repeats leaves enough.
    capacity = len(districts) * 10 * len(_INWARD_LETTERS) ** 2
    if count > capacity // 2:
        raise ValueError(f"postcode_count must be at most {capacity // 2}, got {count}")
    draws = int(count * 1.2) + 100
    while True:
        district_index = rng.integers(0, len(districts), size=draws)
        sector = rng.integers(0, 10, size=draws).astype(str)
        unit = _INWARD_LETTERS[rng.integers(0, len(_INWARD_LETTERS), size=draws)].astype(
            object
        ) + _INWARD_LETTERS[rng.integers(0, len(_INWARD_LETTERS), size=draws)].astype(object)
        candidates = pd.DataFrame(
            {
                POSTCODE: districts[district_index].astype(object)
                + " "
                + sector.astype(object)
                + unit,
                "district_index": district_index,
            }
        ).drop_duplicates(POSTCODE)
        if len(candidates) >= count:
            return candidates.head(count).reset_index(drop=True)
        draws *= 2


def read_postcode_directory(path: str | Path) -> pd.DataFrame:
    """Read a postcode directory CSV in doogal.co.uk's layout, keeping the columns we need.

    Accepts the full 46-column "London postcodes.csv" or any file with at least the needed
    columns. Missing LSOA or rank values are kept as missing (the join quarantines those
    attendances); an empty or non-UTF-8 file, malformed postcodes, "In Use?" values or ranks,
    and postcodes listed twice are rejected with an error that names the file, the column and
    the first bad values.
    """
    path = Path(path)
    if not path.is_file():
        raise PostcodeDirectoryError(f"{path}: postcode directory file not found")
    try:
        header = pd.read_csv(path, nrows=0, encoding="utf-8").columns
        missing = [c for c in POSTCODE_DIRECTORY_COLUMNS if c not in header]
        if missing:
            raise PostcodeDirectoryError(
                f"{path}: missing column(s) {missing}; a postcode directory needs "
                f"{POSTCODE_DIRECTORY_COLUMNS}"
            )
        raw = pd.read_csv(
            path, usecols=POSTCODE_DIRECTORY_COLUMNS, dtype=str, keep_default_na=False,
            encoding="utf-8",
        )[POSTCODE_DIRECTORY_COLUMNS]  # fmt: skip
    except pd.errors.EmptyDataError:
        raise PostcodeDirectoryError(f"{path}: the file is empty") from None
    except UnicodeDecodeError as error:
        raise PostcodeDirectoryError(
            f"{path}: not UTF-8 text (byte {error.object[error.start : error.end]!r} at "
            f"position {error.start}); save it as UTF-8"
        ) from None
    if raw.empty:
        raise PostcodeDirectoryError(f"{path}: the file has a header but no postcodes")
    text = raw.apply(lambda column: column.str.strip())

    _reject(path, POSTCODE, text[POSTCODE], ~text[POSTCODE].str.fullmatch(POSTCODE_PATTERN),
            "not a UK postcode like 'E5 0QZ'")  # fmt: skip
    _reject(path, IN_USE, text[IN_USE], ~text[IN_USE].isin(IN_USE_VALUES),
            f"must be one of {list(IN_USE_VALUES)}")  # fmt: skip
    lsoa_code = text[LSOA_CODE].replace("", None)
    _reject(path, LSOA_CODE, lsoa_code,
            lsoa_code.notna() & ~lsoa_code.str.fullmatch(LSOA_CODE_PATTERN, na=False),
            "not an LSOA code like 'E01001795'")  # fmt: skip
    rank_text = text[IMD_RANK].replace("", None)
    rank = pd.to_numeric(rank_text, errors="coerce")
    bad_rank = rank_text.notna() & (
        rank.isna() | (rank % 1 != 0) | (rank < 1) | (rank > ENGLISH_LSOA_COUNT)
    )
    _reject(path, IMD_RANK, rank_text, bad_rank,
            f"must be a whole-number rank from 1 to {ENGLISH_LSOA_COUNT}")  # fmt: skip
    repeated = text[POSTCODE].duplicated(keep=False)
    _reject(path, POSTCODE, text[POSTCODE], repeated,
            "each postcode must appear once, with one LSOA")  # fmt: skip

    return pd.DataFrame(
        {
            POSTCODE: text[POSTCODE],
            IN_USE: text[IN_USE],
            LSOA_NAME: text[LSOA_NAME].replace("", None),
            LSOA_CODE: lsoa_code,
            IMD_RANK: rank.astype("Int64"),
            DISTRICT: text[DISTRICT],
        }
    )


def _reject(path: Path, column: str, values: pd.Series, bad: pd.Series, rule: str) -> None:
    if bad.any():
        first = values[bad].head(5).tolist()
        raise PostcodeDirectoryError(
            f"{path}: column '{column}' has {int(bad.sum())} bad value(s) ({rule}); "
            f"first: {first} (data rows {(values[bad].head(5).index + 1).tolist()})"
        )
