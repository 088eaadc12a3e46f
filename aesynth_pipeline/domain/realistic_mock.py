"""Mock A&E attendances whose columns depend on each other as real attendances do.

The tutorial's generator (`generate.py`) draws every column on its own, but for age and time
in A&E: synthesisers that keep relations then have almost nothing to keep. This one draws the
same columns from the same domains, in an order that gives them the dependencies real A&E
data shows, each with a declared size (the README lists them):

- age band, then an age within it; weekends bring more young adults;
- arrival hour by age band (children after school, older people in the morning, young adults
  late at night, more so at weekends);
- hospital by its seeded weight, tilted by age band (some see more children), then the
  patient's postcode from its catchment: most from the hospital's own borough, tilted
  towards its deprived or affluent parts (so the IMD decile depends on the hospital);
- treatment by age band;
- time in A&E, log-normal, longer for some treatments, at night, for older patients and at
  weekends.

Identical for the same seed and postcode directory.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from aesynth_pipeline.columns import (
    AGE,
    ARRIVAL_TIME,
    ATTENDANCE_COLUMNS,
    ATTENDANCE_ID,
    DISTRICT,
    GENDER,
    HEALTH_SERVICE_ID,
    HOSPITAL,
    IMD_RANK,
    IN_USE,
    POSTCODE,
    TIME_IN_AE,
    TREATMENT,
)
from aesynth_pipeline.domain.contract import DEFAULT_LONGEST_STAY
from aesynth_pipeline.domain.deidentify import AGE_BRACKET_LOWER_EDGES
from aesynth_pipeline.domain.generate import (
    ARRIVAL_DAYS,
    GENDER_WEIGHTS,
    GENDERS,
    HOSPITALS,
    TREATMENTS,
    attendance_ids,
    attendance_model,
    format_nhs_numbers,
    sample_nhs_numbers,
)
from aesynth_pipeline.domain.geography import ENGLISH_LSOA_COUNT

# Each hospital's own London borough, where most of its patients live.
HOME_BOROUGHS = {
    "Barnet Hospital": "Barnet", "Charing Cross Hospital": "Hammersmith and Fulham",
    "Chase Farm Hospital": "Enfield", "Chelsea and Westminster Hospital": "Kensington and Chelsea",
    "Croydon University Hospital": "Croydon", "Ealing Hospital": "Ealing",
    "Epsom General Hospital": "Sutton", "Hillingdon Hospital": "Hillingdon",
    "Homerton University Hospital": "Hackney", "King's College Hospital": "Southwark",
    "Kingston Hospital": "Kingston upon Thames", "Newham General Hospital": "Newham",
    "North Middlesex Hospital": "Haringey", "Northwick Park & St Marks Hospital": "Harrow",
    "Princess Royal University Hospital": "Bromley", "Queen Elizabeth Hospital": "Greenwich",
    "Queen's Hospital": "Havering", "Royal London Hospital": "Tower Hamlets",
    "St Mary's Hospital": "Westminster", "St Thomas' Hospital": "Lambeth",
    "The Royal Free Hospital": "Camden", "University College Hospital": "Camden",
    "University Hospital Lewisham": "Lewisham", "West Middlesex University Hospital": "Hounslow",
    "Whipps Cross University Hospital": "Waltham Forest", "The Whittington Hospital": "Islington",
}  # fmt: skip

# The effect sizes, each named in the README.
# Share of a hospital's patients who live in its home borough; the rest live anywhere.
CATCHMENT_SHARE = 0.8
# Within its borough a hospital favours postcodes by exp(TILT × d × (1/2 − rank/32,844)),
# with d uniform in [−1, 1] per hospital (seeded): d = 1 draws from the most deprived parts.
DEPRIVATION_TILT = 4.0
# Shares of the age bands 0-17, 18-24, 25-44, 45-64, 65-84, 85-, and how much likelier the
# two young-adult bands are at weekends.
AGE_BAND_SHARES = np.array([0.22, 0.12, 0.27, 0.20, 0.14, 0.05])
WEEKEND_YOUNG_ADULT_FACTOR = 2.2
OLDEST_AGE = 104
# Arrivals by hour of day for everyone, then each band's factor by four-hour range
# (00-03, 04-07, 08-11, 12-15, 16-19, 20-23), everyone's factor at weekends (later mornings,
# busier nights), and young adults' further factor at weekend nights.
HOURLY_ARRIVALS = np.array([
    3.0, 2.5, 2.0, 1.6, 1.4, 1.5, 2.0, 3.0, 4.5, 5.5, 6.0, 6.0,
    5.8, 5.6, 5.4, 5.3, 5.3, 5.4, 5.4, 5.2, 4.8, 4.4, 4.0, 3.5,
])  # fmt: skip
BAND_HOUR_FACTORS = np.array([
    [0.4, 0.3, 0.7, 1.0, 1.8, 1.4],  # 0-17: after school and in the evening
    [2.2, 1.2, 0.6, 0.8, 1.0, 1.6],  # 18-24: late at night
    [1.5, 1.0, 0.9, 1.0, 1.0, 1.2],  # 25-44
    [0.8, 1.0, 1.2, 1.1, 0.9, 0.8],  # 45-64
    [0.5, 1.0, 1.6, 1.2, 0.8, 0.6],  # 65-84: in the morning
    [0.5, 1.0, 1.7, 1.2, 0.7, 0.6],  # 85-
])  # fmt: skip
WEEKEND_HOUR_FACTORS = np.array([2.2, 1.2, 0.5, 0.85, 1.0, 1.4])
WEEKEND_NIGHT_FACTOR = 2.0
# A hospital's weight for each age band: the tutorial's seeded weight times
# exp(HOSPITAL_AGE_SPREAD × z), z standard normal per band and hospital (seeded): some see
# more children, some more older patients.
HOSPITAL_AGE_SPREAD = 0.6
# Mondays are the busiest day, weekends the quietest.
DAY_WEIGHTS = {0: 1.15, 1: 1.05, 2: 1.0, 3: 1.0, 4: 1.0, 5: 0.9, 6: 0.9}
# Treatment weights per age band: the tutorial's seeded weights times exp(TREATMENT_SPREAD × z),
# z standard normal per band and treatment (seeded).
TREATMENT_SPREAD = 1.2
# log(time in A&E) = log(MEDIAN_STAY) + treatment effect (normal, sd TREATMENT_STAY_SD, seeded)
# + the hospital's (normal, sd HOSPITAL_STAY_SD, seeded: some are busier) + the arrival
# range's, the age band's and the day's effects (long on Mondays and at weekends) + normal
# noise (sd STAY_SD), rounded to whole minutes within 1 to LONGEST_STAY.
# With the effects below, about one stay in seven lasts beyond four hours: enough long stays
# to test the last, widest public bin without most of the data falling in it.
MEDIAN_STAY = 95.0
TREATMENT_STAY_SD = 0.45
HOUR_RANGE_STAY = np.array([0.5, 0.35, -0.25, -0.15, 0.05, 0.25])
AGE_BAND_STAY = np.array([-0.45, -0.15, -0.05, 0.1, 0.35, 0.5])
DAY_STAY = {0: 0.25, 1: 0.1, 2: 0.0, 3: 0.0, 4: 0.05, 5: 0.35, 6: 0.4}
HOSPITAL_STAY_SD = 0.3
STAY_SD = 0.45
LONGEST_STAY = DEFAULT_LONGEST_STAY

_SECONDS_PER_HOUR = 3600


def generate_realistic_attendances(postcodes: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """Mock attendances with the dependencies described in the module docstring, identical
    for the same inputs; the same columns and domains as `generate.generate_attendances`."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    places = postcodes.loc[postcodes[IN_USE] == "Yes", [POSTCODE, DISTRICT, IMD_RANK]]
    if places.empty:
        raise ValueError("the postcode directory has no in-use postcode to place patients at")
    tutorial = attendance_model(seed)
    model = np.random.default_rng(np.random.SeedSequence([seed, 6]))
    treatment_tilt = model.standard_normal((len(AGE_BAND_SHARES), len(TREATMENTS)))
    treatment_stay = model.normal(0.0, TREATMENT_STAY_SD, size=len(TREATMENTS))
    deprivation = model.uniform(-1.0, 1.0, size=len(HOSPITALS))
    hospital_stay = model.normal(0.0, HOSPITAL_STAY_SD, size=len(HOSPITALS))
    hospital_tilt = model.standard_normal((len(AGE_BAND_SHARES), len(HOSPITALS)))
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, 7]).spawn(9)]
    ids, nhs, day_s, band_s, hour_s, hospital_s, place_s, treatment_s, rest = streams

    day_weights = np.array([DAY_WEIGHTS[day.dayofweek] for day in ARRIVAL_DAYS])
    day = day_s.choice(len(ARRIVAL_DAYS), size=rows, p=day_weights / day_weights.sum())
    weekend = ARRIVAL_DAYS.dayofweek.to_numpy()[day] >= 5

    band = _age_bands(band_s, weekend)
    age = _ages_in_bands(band_s, band)
    hour = _hours(hour_s, band, weekend)
    seconds = hour * _SECONDS_PER_HOUR + hour_s.integers(0, _SECONDS_PER_HOUR, size=rows)
    arrival = ARRIVAL_DAYS.to_numpy()[day] + seconds.astype("timedelta64[s]")

    hospital = _by_group(
        hospital_s,
        band,
        tutorial.hospital_weights[None, :] * np.exp(HOSPITAL_AGE_SPREAD * hospital_tilt),
    )
    postcode = _catchment_postcodes(place_s, places, hospital, deprivation)
    treatment = _by_group(
        treatment_s,
        band,
        tutorial.treatment_weights[None, :] * np.exp(TREATMENT_SPREAD * treatment_tilt),
    )
    log_stay = (
        np.log(MEDIAN_STAY)
        + treatment_stay[treatment]
        + hospital_stay[hospital]
        + HOUR_RANGE_STAY[hour // 4]
        + AGE_BAND_STAY[band]
        + np.array([DAY_STAY[d.dayofweek] for d in ARRIVAL_DAYS])[day]
        + rest.normal(0.0, STAY_SD, size=rows)
    )
    stay = np.clip(np.rint(np.exp(log_stay)), 1, LONGEST_STAY).astype("int64")
    gender = rest.choice(len(GENDERS), size=rows, p=GENDER_WEIGHTS)

    return pd.DataFrame(
        {
            ATTENDANCE_ID: attendance_ids(ids, rows),
            HEALTH_SERVICE_ID: format_nhs_numbers(sample_nhs_numbers(nhs, rows)),
            AGE: age,
            TIME_IN_AE: stay,
            HOSPITAL: np.array(HOSPITALS, dtype=object)[hospital],
            ARRIVAL_TIME: pd.to_datetime(arrival).as_unit("ns"),
            TREATMENT: np.array(TREATMENTS, dtype=object)[treatment],
            GENDER: np.array(GENDERS, dtype=object)[gender],
            POSTCODE: postcode,
        },
        columns=ATTENDANCE_COLUMNS,
    )


def _by_group(rng: np.random.Generator, group: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """For each record, a value drawn with its group's row of `weights` (groups × values)."""
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    drawn = (rng.random(len(group))[:, None] >= cumulative[group]).sum(axis=1)
    return np.minimum(drawn, weights.shape[1] - 1)


def _age_bands(rng: np.random.Generator, weekend: np.ndarray) -> np.ndarray:
    weekend_shares = AGE_BAND_SHARES.copy()
    weekend_shares[1:3] *= WEEKEND_YOUNG_ADULT_FACTOR
    return _by_group(rng, weekend.astype(int), np.vstack([AGE_BAND_SHARES, weekend_shares]))


def _ages_in_bands(rng: np.random.Generator, band: np.ndarray) -> np.ndarray:
    lower = np.asarray(AGE_BRACKET_LOWER_EDGES)
    upper = np.append(lower[1:], OLDEST_AGE + 1)
    # The oldest band thins out with age: the smaller of two uniform draws.
    first = rng.integers(lower[band], upper[band])
    second = rng.integers(lower[band], upper[band])
    return np.where(band == len(lower) - 1, np.minimum(first, second), first).astype("int64")


def _hours(rng: np.random.Generator, band: np.ndarray, weekend: np.ndarray) -> np.ndarray:
    factors = np.repeat(BAND_HOUR_FACTORS, 4, axis=1)
    weekday = HOURLY_ARRIVALS * factors
    weekend_rows = weekday * np.repeat(WEEKEND_HOUR_FACTORS, 4)
    weekend_rows[1:3, :4] *= WEEKEND_NIGHT_FACTOR
    weekend_rows[1:3, 20:] *= WEEKEND_NIGHT_FACTOR
    group = band + len(AGE_BAND_SHARES) * weekend.astype(int)
    return _by_group(rng, group, np.vstack([weekday, weekend_rows]))


def _catchment_postcodes(
    rng: np.random.Generator,
    places: pd.DataFrame,
    hospital: np.ndarray,
    deprivation: np.ndarray,
) -> np.ndarray:
    """Each patient's postcode: from the hospital's home borough (tilted by its deprivation)
    with probability CATCHMENT_SHARE, otherwise from anywhere; a hospital whose borough the
    directory does not hold draws from anywhere."""
    codes = places[POSTCODE].to_numpy(dtype=object)
    districts = places[DISTRICT].to_numpy(dtype=object)
    # A postcode without a rank counts as middling; the join quarantines it anyway.
    rank = pd.to_numeric(places[IMD_RANK], errors="coerce").fillna(ENGLISH_LSOA_COUNT / 2)
    centred = 0.5 - rank.to_numpy(dtype=float) / ENGLISH_LSOA_COUNT
    chosen = rng.integers(0, len(codes), size=len(hospital))
    local = rng.random(len(hospital)) < CATCHMENT_SHARE
    for h, name in enumerate(HOSPITALS):
        home = np.flatnonzero(districts == HOME_BOROUGHS[name])
        patients = np.flatnonzero((hospital == h) & local)
        if len(home) == 0 or len(patients) == 0:
            continue
        weights = np.exp(DEPRIVATION_TILT * deprivation[h] * centred[home])
        drawn = rng.choice(len(home), size=len(patients), p=weights / weights.sum())
        chosen[patients] = home[drawn]
    return codes[chosen]
