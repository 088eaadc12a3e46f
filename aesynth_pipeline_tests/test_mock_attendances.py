"""The mock attendances match the generator's stated distributions, read back from the lake."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from aesynth_pipeline import columns as c
from aesynth_pipeline.domain.generate import (
    ARRIVAL_DAY_WEIGHTS,
    ARRIVAL_DAYS,
    GENDERS,
    HOSPITALS,
    TREATMENTS,
    attendance_model,
    generate_attendances,
    valid_test_nhs_numbers,
)
from aesynth_pipeline.domain.geography import generate_postcode_directory

# Every comparison below allows this many standard errors: with some 80 comparisons, a correct
# generator fails one by chance with probability below one in ten thousand.
STANDARD_ERRORS = 5


def nhs_number_check_digit_is_valid(number: str) -> bool:
    """The NHS modulus-11 rule, written out digit by digit as the NHS data dictionary does."""
    digits = [int(d) for d in number.replace(" ", "")]
    total = sum(d * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == digits[9]


def discretised_normal_moments(mean: float, sd: float, floor_value: int) -> tuple[float, float]:
    """Mean and SD of max(int(X), floor_value) for X ~ N(mean, sd), by summing over integers."""
    k = np.arange(floor_value, int(mean + 12 * sd))
    probability = stats.norm.cdf(k + 1, mean, sd) - stats.norm.cdf(k, mean, sd)
    probability[0] = stats.norm.cdf(floor_value + 1, mean, sd)  # everything below lands here
    expected = np.sum(k * probability)
    return expected, np.sqrt(np.sum((k - expected) ** 2 * probability))


def assert_shares_match(observed: pd.Series, expected: dict[str, float], rows: int) -> None:
    for value, share in expected.items():
        standard_error = np.sqrt(share * (1 - share) / rows)
        assert abs(observed.get(value, 0.0) - share) < STANDARD_ERRORS * standard_error, value


@pytest.fixture(scope="module")
def attendances(pipeline_100k) -> pd.DataFrame:
    return pipeline_100k.read("raw", "hospital_ae_data")


def test_ages_and_times_follow_the_truncated_bivariate_normal(attendances):
    for column, mean, floor_value in ((c.AGE, 41, 0), (c.TIME_IN_AE, 60, 1)):
        expected_mean, expected_sd = discretised_normal_moments(mean, 20, floor_value)
        values = attendances[column]
        assert values.min() == floor_value
        assert abs(values.mean() - expected_mean) < STANDARD_ERRORS * 20 / np.sqrt(len(values))
        assert abs(values.std() - expected_sd) < 0.01 * expected_sd
    assert attendances[c.AGE].corr(attendances[c.TIME_IN_AE]) == pytest.approx(0.95, abs=0.01)


def test_hospitals_and_treatments_follow_their_seeded_integer_weights(attendances, pipeline_100k):
    model = attendance_model(pipeline_100k.settings.seed)
    for column, names, weights in (
        (c.HOSPITAL, HOSPITALS, model.hospital_weights),
        (c.TREATMENT, TREATMENTS, model.treatment_weights),
    ):
        assert weights.min() >= 1 and weights.max() <= 99
        assert set(attendances[column]) <= set(names)
        expected = dict(zip(names, weights / weights.sum(), strict=True))
        assert_shares_match(
            attendances[column].value_counts(normalize=True), expected, len(attendances)
        )


def test_genders_follow_their_weights(attendances):
    expected = dict(zip(GENDERS, [0.005, 0.495, 0.495, 0.005], strict=True))
    assert_shares_match(
        attendances[c.GENDER].value_counts(normalize=True), expected, len(attendances)
    )


def test_arrival_days_follow_their_weights_and_peak_on_their_own_hour(attendances, pipeline_100k):
    arrival = attendances[c.ARRIVAL_TIME]
    day = arrival.dt.strftime("%Y-%m-%d")
    labels = ARRIVAL_DAYS.strftime("%Y-%m-%d")
    weights = ARRIVAL_DAY_WEIGHTS / ARRIVAL_DAY_WEIGHTS.sum()
    assert_shares_match(
        day.value_counts(normalize=True), dict(zip(labels, weights, strict=True)), len(arrival)
    )
    assert (arrival.dt.microsecond == 0).all() and (arrival.dt.nanosecond == 0).all()
    fraction_of_day = (arrival - arrival.dt.normalize()).dt.total_seconds() / 86_400
    peaks = attendance_model(pipeline_100k.settings.seed).day_peaks
    for label, peak in zip(labels, peaks, strict=True):
        on_day = fraction_of_day[day == label]
        # A triangular(0, peak, 1) variable has mean (1 + peak) / 3.
        sd = np.sqrt((1 + peak**2 - peak) / 18)
        assert abs(on_day.mean() - (1 + peak) / 3) < STANDARD_ERRORS * sd / np.sqrt(len(on_day))


def test_nhs_numbers_are_test_range_with_valid_check_digits_and_one_per_patient(attendances):
    numbers = attendances[c.HEALTH_SERVICE_ID]
    assert numbers.str.fullmatch(r"999 \d{3} \d{4}").all()
    assert all(nhs_number_check_digit_is_valid(n) for n in numbers)
    assert numbers.is_unique
    assert attendances[c.ATTENDANCE_ID].is_unique


def test_patients_live_at_in_use_postcodes(attendances, pipeline_100k):
    directory = pipeline_100k.read("london_postcodes")
    in_use = set(directory.loc[directory[c.IN_USE] == "Yes", c.POSTCODE])
    assert set(attendances[c.POSTCODE]) <= in_use
    assert (directory[c.IN_USE] == "No").any()


def test_the_test_number_range_holds_909091_valid_numbers_all_checked():
    numbers = valid_test_nhs_numbers()
    assert len(numbers) == 909_091
    sample = np.random.default_rng(0).choice(numbers, 2_000, replace=False)
    assert all(nhs_number_check_digit_is_valid(str(n)) for n in sample)


def test_beyond_the_test_number_range_patients_attend_more_than_once():
    directory = generate_postcode_directory(seed=1, postcode_count=1_000)
    rows = len(valid_test_nhs_numbers()) + 500
    numbers = generate_attendances(directory, rows, seed=1)[c.HEALTH_SERVICE_ID]
    assert numbers.nunique() == len(valid_test_nhs_numbers())
    assert numbers.duplicated().sum() == 500


def test_generated_directory_looks_like_london(pipeline_100k):
    directory = pipeline_100k.read("london_postcodes")
    assert directory[c.DISTRICT].nunique() == 33
    assert 4_300 <= directory[c.LSOA_CODE].nunique() <= 5_300
    assert directory[c.LSOA_NAME].str.fullmatch(r"[A-Za-z ]+ \d{3}[A-E]").all()
    assert directory[c.LSOA_CODE].str.fullmatch(r"E01\d{6}").all()
    assert directory[c.IMD_RANK].between(1, 32_844).all()
    assert len(directory) == 50_000
    areas = directory[c.POSTCODE].str.extract(r"^([A-Z]+)")[0]
    assert set(areas) == {"E", "EC", "N", "NW", "SE", "SW", "W", "WC", "BR", "CR", "DA", "EN",
                          "HA", "IG", "KT", "RM", "SM", "TW", "UB", "WD"}  # fmt: skip
