"""Source assets: the postcode directory and the A&E attendances (your own, or the mock)."""

from pathlib import Path

import dagster as dg
import pandas as pd
import pydantic
from upath import UPath

from aesynth_pipeline import columns as c
from aesynth_pipeline.assets.keys import HOSPITAL_AE_DATA, HOSPITAL_AE_REJECTED, LONDON_POSTCODES
from aesynth_pipeline.assets.versions import ATTENDANCE_PARAMETERS, code_version
from aesynth_pipeline.checks import (
    rejected_share,
    rejected_share_spec,
    schema_result,
    schema_spec,
)
from aesynth_pipeline.domain.extract import generated, read_extract
from aesynth_pipeline.domain.generate import distinct_patients, valid_test_nhs_numbers
from aesynth_pipeline.domain.geography import generate_postcode_directory, read_postcode_directory
from aesynth_pipeline.domain.mock_profiles import mock_attendances
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

    @dg.multi_asset(
        # The op keeps the name it had as a single asset, which run configuration uses.
        name=HOSPITAL_AE_DATA.to_python_identifier(),
        outs={
            "attendances": dg.AssetOut(
                key=HOSPITAL_AE_DATA,
                kinds={"pandas", "parquet"},
                tags={ZONE: "raw"},
                code_version=code_version(settings, *ATTENDANCE_PARAMETERS),
                description=_attendances_description(settings),
            ),
            "rejected": dg.AssetOut(
                key=HOSPITAL_AE_REJECTED,
                kinds={"pandas", "parquet"},
                tags={ZONE: "raw"},
                code_version=code_version(settings, *ATTENDANCE_PARAMETERS),
                description="Rows of your own attendances file that break the data contract, "
                "kept as written with the rule each breaks instead of being dropped (raw zone; "
                "empty for the mock).",
            ),
        },
        ins={"directory": dg.AssetIn(LONDON_POSTCODES)},
        group_name="sources",
        check_specs=[
            schema_spec(HOSPITAL_AE_DATA),
            schema_spec(HOSPITAL_AE_REJECTED),
            rejected_share_spec(settings.max_rejected_share),
        ],
    )
    def hospital_ae_data(config: MockDataConfig, directory: pd.DataFrame):
        """The raw attendances, with direct identifiers (raw zone, never previewed): your own
        file (AESYNTH_ATTENDANCES) judged against the data contract, or the mock."""
        domain = settings.attendance_domain()
        if settings.attendances:
            extract = read_extract(settings.attendances, domain)
            metadata = {
                "source": f"file {UPath(settings.attendances).name}",
                "rows read": extract.rows_read,
            }
        else:
            seed = settings.seed if config.seed is None else config.seed
            attendances = mock_attendances(directory, settings.rows, seed, settings.mock_profile)
            extract = generated(attendances, f"mock ({settings.mock_profile})")
            patients = distinct_patients(settings.rows)
            metadata = {
                "source": f"mock, {settings.mock_profile} profile",
                "seed": seed,
                "distinct patients": patients,
                "repeat attendances": settings.rows - patients,
                "NHS numbers available": len(valid_test_nhs_numbers()),
            }
        yield dg.Output(extract.attendances, output_name="attendances", metadata=metadata)
        yield dg.Output(
            extract.rejected, output_name="rejected", metadata=extract.rejected_by_reason()
        )
        yield schema_result(HOSPITAL_AE_DATA, extract.attendances, domain)
        yield schema_result(HOSPITAL_AE_REJECTED, extract.rejected, domain)
        yield rejected_share(extract, settings.max_rejected_share)

    return [london_postcodes, hospital_ae_data]


def _attendances_description(settings: Settings) -> str:
    if settings.attendances:
        return (
            "Your own A&E attendances, the rows that keep the data contract, with direct "
            "identifiers (raw zone, never previewed)."
        )
    return (
        "Mock A&E attendances with direct identifiers (raw zone, never previewed). NHS numbers "
        "come from the 999 range reserved for testing, so no real patient's number can appear; "
        "each attendance is a different patient until that range's 909,091 valid numbers run "
        "out, after which some patients attend more than once."
    )
