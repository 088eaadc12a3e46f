"""A small, realistic extract of a hospital group's own attendances, for the documented
domain file (docs/example-domain.yaml).

Five East London hospitals over the fortnight from Monday 4 March 2024, drawn by the realistic
mock (so its columns depend on each other as real ones do) and written as a hospital's
analyst would export them: NHS numbers from the range reserved for testing, postcodes of the
postcode directory, arrival times to the second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from aesynth_pipeline import columns as c
from aesynth_pipeline.domain.contract import read_domain_file
from aesynth_pipeline.domain.generate import ARRIVAL_DAYS
from aesynth_pipeline.domain.realistic_mock import generate_realistic_attendances

EXAMPLE_DOMAIN_FILE = Path(__file__).resolve().parents[1] / "docs" / "example-domain.yaml"
DOMAIN = read_domain_file(EXAMPLE_DOMAIN_FILE)


def example_attendances(directory: pd.DataFrame, rows: int, seed: int = 3) -> pd.DataFrame:
    """The extract's rows: the realistic mock's, moved to the declared hospitals and days."""
    drawn = generate_realistic_attendances(directory, rows, seed)
    rng = np.random.default_rng(seed)
    # Each mock hospital's patients go to one of the declared ones; the declared days repeat
    # the mock's week (both start on a Monday), so the weekdays keep their character.
    mock_hospital = pd.factorize(drawn[c.HOSPITAL], sort=True)[0]
    weeks = len(DOMAIN.arrival_days) // len(ARRIVAL_DAYS)
    arrival = drawn[c.ARRIVAL_TIME]
    day = (arrival.dt.normalize() - ARRIVAL_DAYS[0]).dt.days
    day = day + rng.integers(0, weeks, size=rows) * len(ARRIVAL_DAYS)
    hospitals = np.array(DOMAIN.hospitals, dtype=object)
    return drawn.assign(
        **{
            c.HOSPITAL: hospitals[mock_hospital % len(hospitals)],
            c.ARRIVAL_TIME: DOMAIN.first_arrival
            + pd.to_timedelta(day, unit="D")
            + (arrival - arrival.dt.normalize()),
        }
    )


def write_example(
    folder: Path, directory: pd.DataFrame, rows: int, suffix: str = ".csv"
) -> tuple[Path, pd.DataFrame]:
    """The extract (CSV or Parquet) written under `folder`, and its rows."""
    folder.mkdir(parents=True, exist_ok=True)
    attendances = example_attendances(directory, rows)
    extract = folder / f"attendances{suffix}"
    if suffix == ".csv":
        attendances.to_csv(extract, index=False, date_format="%Y-%m-%d %H:%M:%S")
    else:
        attendances.to_parquet(extract, index=False)
    return extract, attendances
