"""Source assets: the postcode directory and the mock A&E attendances."""

from pathlib import Path

import dagster as dg
import pandas as pd
import pydantic

from aesynth_pipeline import columns as c
from aesynth_pipeline.assets.keys import HOSPITAL_AE_DATA, LONDON_POSTCODES
from aesynth_pipeline.assets.versions import code_version
from aesynth_pipeline.checks import schema_result, schema_spec
from aesynth_pipeline.domain.generate import (
    distinct_patients,
    generate_attendances,
    valid_test_nhs_numbers,
)
from aesynth_pipeline.domain.geography import generate_postcode_directory, read_postcode_directory
from aesynth_pipeline.settings import Settings

ZONE = "zone"


class MockDataConfig(dg.Config):
    """Run configuration of the mock attendances."""

    seed: int | None = pydantic.Field(
        default=None,
        description="Seed for this run's mock data, instead of AESYNTH_SEED (the nightly "
        "schedule derives one from the date).",
    )


def build_source_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=LONDON_POSTCODES,
        group_name="sources",
        kinds={"pandas", "parquet"},
        tags={ZONE: "public"},
        code_version=code_version(settings),
        check_specs=[schema_spec(LONDON_POSTCODES)],
    )
    def london_postcodes():
        """London postcodes with their LSOA and Index of Multiple Deprivation rank.

        Read from the file named by AESYNTH_POSTCODES (doogal.co.uk's layout), or generated
        from the seed with the same columns when that is unset. Public data, not patient data.
        """
        if settings.postcodes:
            directory = read_postcode_directory(settings.postcodes)
            source = f"file {Path(settings.postcodes).name}"
        else:
            directory = generate_postcode_directory(settings.seed, settings.postcode_count)
            source = f"generated from seed {settings.seed}"
        yield dg.Output(
            directory,
            metadata={
                "source": source,
                "postcodes in use": int((directory[c.IN_USE] == "Yes").sum()),
                "postcodes terminated": int((directory[c.IN_USE] == "No").sum()),
                "LSOAs": int(directory[c.LSOA_CODE].nunique()),
                "local authorities": int(directory[c.DISTRICT].nunique()),
            },
        )
        yield schema_result(LONDON_POSTCODES, directory)

    @dg.asset(
        key=HOSPITAL_AE_DATA,
        ins={"directory": dg.AssetIn(LONDON_POSTCODES)},
        group_name="sources",
        kinds={"pandas", "parquet"},
        tags={ZONE: "raw"},
        code_version=code_version(settings, "rows", "seed"),
        check_specs=[schema_spec(HOSPITAL_AE_DATA)],
    )
    def hospital_ae_data(config: MockDataConfig, directory: pd.DataFrame):
        """Mock A&E attendances with direct identifiers (raw zone, never previewed).

        NHS numbers come from the 999 range reserved for testing, so no real patient's number
        can appear; each attendance is a different patient until that range's 909,091 valid
        numbers run out, after which some patients attend more than once.
        """
        seed = settings.seed if config.seed is None else config.seed
        attendances = generate_attendances(directory, settings.rows, seed)
        patients = distinct_patients(settings.rows)
        yield dg.Output(
            attendances,
            metadata={
                "seed": seed,
                "distinct patients": patients,
                "repeat attendances": settings.rows - patients,
                "NHS numbers available": len(valid_test_nhs_numbers()),
            },
        )
        yield schema_result(HOSPITAL_AE_DATA, attendances)

    return [london_postcodes, hospital_ae_data]
