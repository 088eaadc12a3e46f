"""Mock A&E attendances: realistic in shape, made up in every value.

Follows the seed tutorial's generator, vectorised and driven by one seed: the same seed and
postcode directory always give the same frame.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from aesynth_pipeline.columns import (
    AGE,
    ARRIVAL_TIME,
    ATTENDANCE_COLUMNS,
    ATTENDANCE_ID,
    GENDER,
    HEALTH_SERVICE_ID,
    HOSPITAL,
    IN_USE,
    POSTCODE,
    TIME_IN_AE,
    TREATMENT,
)

HOSPITALS = (
    "Barnet Hospital", "Charing Cross Hospital", "Chase Farm Hospital",
    "Chelsea and Westminster Hospital", "Croydon University Hospital", "Ealing Hospital",
    "Epsom General Hospital", "Hillingdon Hospital", "Homerton University Hospital",
    "King's College Hospital", "Kingston Hospital", "Newham General Hospital",
    "North Middlesex Hospital", "Northwick Park & St Marks Hospital",
    "Princess Royal University Hospital", "Queen Elizabeth Hospital", "Queen's Hospital",
    "Royal London Hospital", "St Mary's Hospital", "St Thomas' Hospital",
    "The Royal Free Hospital", "University College Hospital", "University Hospital Lewisham",
    "West Middlesex University Hospital", "Whipps Cross University Hospital",
    "The Whittington Hospital",
)  # fmt: skip

# The NHS A&E treatment codes; the data holds the names.
TREATMENT_CODES = {
    "Dressing": "01", "Bandage/support": "02", "Sutures": "03",
    "Wound closure (excluding sutures)": "04", "Plaster of Paris": "05", "Splint": "06",
    "Removal foreign body": "08", "Physiotherapy": "09", "Incision & drainage": "11",
    "Central line": "13", "Chest drain": "16", "Urinary catheter/suprapubic": "17",
    "Defibrillation/pacing": "18", "Resuscitation/cardiopulmonary resuscitation": "19",
    "Minor surgery": "20", "Guidance/advice only": "22", "Anaesthesia": "23", "Tetanus": "24",
    "Nebuliser/spacer": "25", "Recording vital signs": "30", "Burns review": "31",
    "Fracture review": "33", "Wound cleaning": "34", "Dressing/wound review": "35",
    "Sling/collar cuff/broad arm sling": "36", "Nasal airway": "38", "Oral airway": "39",
    "Arterial line": "42", "Infusion fluids": "43", "Blood product transfusion": "44",
    "Lumbar puncture": "46", "Joint aspiration": "47", "Occupational Therapy": "52",
    "Social work intervention": "54", "Eye": "55", "Dental treatment": "56",
    "Prescription/medicines prepared to take away": "57",
    "Other (consider alternatives)": "27", "None (consider guidance/advice option)": "99",
}  # fmt: skip
TREATMENTS = tuple(TREATMENT_CODES)

GENDERS = ("Not Known", "Male", "Female", "Not Specified")
GENDER_WEIGHTS = np.array([0.005, 0.495, 0.495, 0.005])

ARRIVAL_DAYS = pd.date_range("2019-04-01", periods=7, freq="D")
ARRIVAL_DAY_WEIGHTS = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.0])

AGE_MEAN, TIME_IN_AE_MEAN = 41.0, 60.0
AGE_SD, TIME_IN_AE_SD = 20.0, 20.0
AGE_TIME_CORRELATION = 0.95

# NHS numbers starting 999 are reserved for testing and are never issued to a patient.
NHS_TEST_PREFIX = 999
_NHS_WEIGHTS = np.arange(10, 1, -1)
_SECONDS_PER_DAY = 24 * 60 * 60


@dataclass(frozen=True)
class AttendanceModel:
    """The seed-drawn parameters of the generator, independent of how many rows are drawn."""

    hospital_weights: np.ndarray
    treatment_weights: np.ndarray
    day_peaks: np.ndarray


def attendance_model(seed: int) -> AttendanceModel:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    return AttendanceModel(
        hospital_weights=rng.integers(1, 100, size=len(HOSPITALS)),
        treatment_weights=rng.integers(1, 100, size=len(TREATMENTS)),
        day_peaks=rng.uniform(0, 1, size=len(ARRIVAL_DAYS)),
    )


def generate_attendances(postcodes: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """Mock A&E attendances, one row per attendance, identical for the same inputs.

    Every patient lives at an in-use postcode of the directory. Each attendance is a different
    patient until the NHS test-number range runs out (see `distinct_patients`).
    """
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    in_use = postcodes.loc[postcodes[IN_USE] == "Yes", POSTCODE].to_numpy()
    if len(in_use) == 0:
        raise ValueError("the postcode directory has no in-use postcode to place patients at")
    model = attendance_model(seed)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, 3]).spawn(8)]
    ids, nhs, age_time, hospital, day, time_of_day, treatment, gender_postcode = streams

    ages, times = _ages_and_times(age_time, rows)
    day_index = day.choice(len(ARRIVAL_DAYS), size=rows, p=_share(ARRIVAL_DAY_WEIGHTS))
    day_fraction = time_of_day.triangular(0.0, model.day_peaks[day_index], 1.0)
    seconds = np.minimum((day_fraction * _SECONDS_PER_DAY).astype("int64"), _SECONDS_PER_DAY - 1)
    arrival = ARRIVAL_DAYS.to_numpy()[day_index] + seconds.astype("timedelta64[s]")

    return pd.DataFrame(
        {
            ATTENDANCE_ID: attendance_ids(ids, rows),
            HEALTH_SERVICE_ID: format_nhs_numbers(sample_nhs_numbers(nhs, rows)),
            AGE: ages,
            TIME_IN_AE: times,
            HOSPITAL: np.array(HOSPITALS, dtype=object)[
                hospital.choice(len(HOSPITALS), size=rows, p=_share(model.hospital_weights))
            ],
            ARRIVAL_TIME: pd.to_datetime(arrival).as_unit("ns"),
            TREATMENT: np.array(TREATMENTS, dtype=object)[
                treatment.choice(len(TREATMENTS), size=rows, p=_share(model.treatment_weights))
            ],
            GENDER: np.array(GENDERS, dtype=object)[
                gender_postcode.choice(len(GENDERS), size=rows, p=GENDER_WEIGHTS)
            ],
            POSTCODE: in_use.astype(object)[gender_postcode.integers(0, len(in_use), size=rows)],
        },
        columns=ATTENDANCE_COLUMNS,
    )


def _share(weights: np.ndarray) -> np.ndarray:
    return np.asarray(weights, dtype=float) / np.sum(weights)


def _ages_and_times(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    covariance = AGE_TIME_CORRELATION * AGE_SD * TIME_IN_AE_SD
    draws = rng.multivariate_normal(
        [AGE_MEAN, TIME_IN_AE_MEAN],
        [[AGE_SD**2, covariance], [covariance, TIME_IN_AE_SD**2]],
        size=rows,
    )
    # Truncation towards zero, as int() does in the seed tutorial.
    whole = draws.astype("int64")
    return np.maximum(whole[:, 0], 0), np.maximum(whole[:, 1], 1)


def attendance_ids(rng: np.random.Generator, rows: int) -> np.ndarray:
    """Random version-4 UUID strings, built from the seeded generator rather than the OS."""
    octets = rng.integers(0, 256, size=(rows, 16), dtype=np.uint8)
    octets[:, 6] = (octets[:, 6] & 0x0F) | 0x40
    octets[:, 8] = (octets[:, 8] & 0x3F) | 0x80
    # bytes.hex writes every digit in one C loop; the dashes go in by column slices, and
    # Arrow decodes the ASCII to Python strings: a third of the time numpy's per-element
    # lookups and astype(str).astype(object) took for a million rows.
    digits = np.frombuffer(octets.tobytes().hex().encode("ascii"), dtype=np.uint8)
    digits = digits.reshape(rows, 32)
    text = np.full((rows, 36), ord("-"), dtype=np.uint8)
    for start, end, position in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        text[:, position : position + end - start] = digits[:, start:end]
    as_bytes = pa.array(text.view("S36").ravel(), type=pa.binary(36))
    return as_bytes.cast(pa.binary()).cast(pa.string()).to_numpy(zero_copy_only=False)


@functools.cache
def valid_test_nhs_numbers() -> np.ndarray:
    """Every 10-digit NHS number in the 999 test range whose modulus-11 check digit is valid.

    Computed once (a third of a second, which a run spent three times) and read-only, so that
    no caller can change what the others read.
    """
    bodies = NHS_TEST_PREFIX * 1_000_000 + np.arange(1_000_000, dtype="int64")
    check = nhs_check_digits(bodies)
    valid = check < 10
    numbers = bodies[valid] * 10 + check[valid]
    numbers.flags.writeable = False
    return numbers


def nhs_check_digits(bodies: np.ndarray) -> np.ndarray:
    """The modulus-11 check digit of each 9-digit number body; 10 marks a body with none."""
    digits = (np.asarray(bodies, dtype="int64")[:, None] // 10 ** np.arange(8, -1, -1)) % 10
    check = 11 - (digits @ _NHS_WEIGHTS) % 11
    return np.where(check == 11, 0, check)


def nhs_number_is_valid(formatted: pd.Series) -> pd.Series:
    """Whether each 'NNN NNN NNNN' string is a 10-digit NHS number with a valid check digit."""
    well_formed = formatted.astype(str).str.fullmatch(r"[0-9]{3} [0-9]{3} [0-9]{4}")
    numbers = pd.to_numeric(
        formatted.where(well_formed, "0").astype(str).str.replace(" ", "", regex=False)
    ).to_numpy(dtype="int64")
    valid = nhs_check_digits(numbers // 10) == numbers % 10
    return pd.Series(well_formed.to_numpy() & valid, index=formatted.index)


def distinct_patients(rows: int) -> int:
    """How many different patients `rows` attendances have: one each, until the range runs out."""
    return min(rows, len(valid_test_nhs_numbers()))


def sample_nhs_numbers(rng: np.random.Generator, rows: int) -> np.ndarray:
    pool = valid_test_nhs_numbers()
    if rows <= len(pool):
        return rng.choice(pool, size=rows, replace=False)
    repeats = rng.choice(pool, size=rows - len(pool), replace=True)
    return rng.permutation(np.concatenate([rng.permutation(pool), repeats]))


def format_nhs_numbers(numbers: np.ndarray) -> np.ndarray:
    """'NNN NNN NNNN' strings, built as bytes like the attendance IDs: twice as fast as
    pandas' string slicing at a million numbers."""
    digits = (np.asarray(numbers, dtype="int64")[:, None] // 10 ** np.arange(9, -1, -1)) % 10
    text = np.full((len(digits), 12), b" ", dtype="S1")
    text[:, [0, 1, 2, 4, 5, 6, 8, 9, 10, 11]] = (digits + ord("0")).astype(np.uint8).view("S1")
    return text.view("S12").ravel().astype(str).astype(object)
