"""Identifiers never leave the raw zone: not in any other file of the lake, not in the
reports, not anywhere in the Dagster instance's storage."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from aesynth_pipeline import columns as c
from aesynth_pipeline.definitions import build_assets, build_resources
from aesynth_pipeline.lake import PSEUDONYM_KEY_FILE, RAW_ZONE
from aesynth_pipeline.settings import Settings

from .conftest import SMALL_RUN

NHS_NUMBER = re.compile(rb"999 ?\d{3} ?\d{4}")
TIMESTAMP = re.compile(rb"2019-04-0\d[ T]\d\d:\d\d:\d\d")
POSTCODE = re.compile(rb"[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}")


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> tuple[Path, Path]:
    """A full run recorded in a real (SQLite) instance; returns (lake, instance folder)."""
    lake = tmp_path_factory.mktemp("lake")
    home = tmp_path_factory.mktemp("dagster-home")
    # No key in the settings: the lake makes its own, which the scan then looks for.
    settings = Settings(data_lake=str(lake), **{**SMALL_RUN, "pseudonym_key": None})
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        result = dg.materialize(
            build_assets(settings),
            resources=build_resources(settings),
            instance=instance,
        )
        assert result.success
    return lake, home


def file_bytes(path: Path) -> bytes:
    """The file's text as bytes; Parquet files are decoded, as compression hides strings."""
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        return frame.astype(str).to_csv(index=False).encode("utf-8")
    return path.read_bytes()


def identifiers_in(content: bytes, raw: pd.DataFrame, key: bytes) -> set[str]:
    """Which kinds of the run's identifiers `content` holds."""
    nhs_numbers = set(raw[c.HEALTH_SERVICE_ID].str.replace(" ", ""))
    timestamps = set(raw[c.ARRIVAL_TIME].astype(str)) | set(
        raw[c.ARRIVAL_TIME].dt.strftime("%Y-%m-%dT%H:%M:%S")
    )
    found = set()
    if {m.decode().replace(" ", "") for m in NHS_NUMBER.findall(content)} & nhs_numbers:
        found.add("NHS number")
    if {m.decode() for m in TIMESTAMP.findall(content)} & timestamps:
        found.add("arrival time")
    if {m.decode() for m in POSTCODE.findall(content)} & set(raw[c.POSTCODE]):
        found.add("postcode")
    if any(name.encode() in content for name in raw[c.HOSPITAL].unique()):
        found.add("hospital name")
    if key in content:
        found.add("pseudonym key")
    return found


def test_no_identifier_leaves_the_raw_zone(stored):
    lake, home = stored
    raw_file = lake / RAW_ZONE / "hospital_ae_data.parquet"
    raw = pd.read_parquet(raw_file)
    key = (lake / RAW_ZONE / PSEUDONYM_KEY_FILE).read_bytes().strip()
    # The scan does see identifiers where they belong.
    assert identifiers_in(file_bytes(raw_file), raw, key) == {
        "NHS number", "arrival time", "postcode", "hospital name"
    }  # fmt: skip

    outside = [
        p for p in lake.rglob("*") if p.is_file() and RAW_ZONE not in p.relative_to(lake).parts
    ]
    stored_files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in stored_files), "the instance's SQLite storage"
    assert any(p.name == "evaluation_report.html" for p in outside)
    leaks = {}
    for path in outside + stored_files:
        found = identifiers_in(file_bytes(path), raw, key)
        if path.name == "london_postcodes.parquet":
            found.discard("postcode")  # the directory is public, not patient data
        if found:
            leaks[str(path)] = found
    assert not leaks
    assert len(outside) > 30 and len(stored_files) > 3


def test_raw_zone_files_are_readable_by_their_owner_only(stored):
    lake, _ = stored
    raw = lake / RAW_ZONE
    assert stat.S_IMODE(raw.stat().st_mode) == 0o700
    files = list(raw.iterdir())
    assert {p.name for p in files} >= {
        "hospital_ae_data.parquet",
        "hospital_ae_data_lsoa.parquet",
        "hospital_ae_quarantine.parquet",
        PSEUDONYM_KEY_FILE,
    }
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
