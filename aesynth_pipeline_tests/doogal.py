"""Small postcode directory files in doogal.co.uk's 46-column layout, written by the tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from aesynth_pipeline.domain.geography import generate_postcode_directory

DOOGAL_HEADER = [
    "Postcode", "In Use?", "Latitude", "Longitude", "Easting", "Northing", "Grid Ref", "County",
    "District", "Ward", "District Code", "Ward Code", "Country", "County Code", "Constituency",
    "Introduced", "Terminated", "Parish", "National Park", "Population", "Households",
    "Built up area", "Built up sub-division", "Lower layer super output area", "Rural/urban",
    "Region", "Altitude", "London zone", "LSOA Code", "Local authority", "MSOA Code",
    "Middle layer super output area", "Parish Code", "Census output area", "Constituency Code",
    "Index of Multiple Deprivation", "Quality", "User Type", "Last updated", "Nearest station",
    "Distance to station", "Postcode area", "Postcode district", "Police force",
    "Water company", "Plus Code",
]  # fmt: skip


def doogal_frame(postcode_count: int = 400, seed: int = 11) -> pd.DataFrame:
    """A doogal-layout directory: our columns generated, some others filled as doogal does."""
    directory = generate_postcode_directory(seed, postcode_count).astype(
        {"Index of Multiple Deprivation": "object"}
    )
    frame = pd.DataFrame({column: "" for column in DOOGAL_HEADER}, index=directory.index)
    for column in directory.columns:
        frame[column] = directory[column]
    frame["Latitude"], frame["Longitude"] = "51.554688", "-0.05357"
    frame["Country"], frame["Region"] = "England", "London"
    frame["Postcode area"] = directory["Postcode"].str.extract(r"^([A-Z]+)")[0]
    return frame


def write_doogal_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path
