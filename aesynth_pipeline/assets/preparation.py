"""Preparation assets: the LSOA join (with its quarantine) and the de-identified dataset."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from aesynth_pipeline import columns as c
from aesynth_pipeline.assets.keys import (
    DEIDENTIFIED,
    HOSPITAL_AE_DATA,
    HOSPITAL_AE_DATA_LSOA,
    HOSPITAL_AE_QUARANTINE,
    HOSPITAL_AE_REJECTED,
    LONDON_POSTCODES,
)
from aesynth_pipeline.assets.source import ZONE
from aesynth_pipeline.assets.versions import (
    ATTENDANCE_PARAMETERS,
    DEIDENTIFIED_PARAMETERS,
    code_version,
)
from aesynth_pipeline.checks import (
    ROWS_RECONCILE,
    quarantine_share,
    quarantine_share_spec,
    rows_reconcile,
    schema_result,
    schema_spec,
)
from aesynth_pipeline.domain.deidentify import (
    QUARANTINE_REASONS,
    deidentify,
    join_postcode_directory,
)
from aesynth_pipeline.io_managers import COLUMNS
from aesynth_pipeline.lake import lake_path, lake_pseudonym_key
from aesynth_pipeline.settings import Settings


def build_preparation_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    @dg.multi_asset(
        outs={
            "joined": dg.AssetOut(
                key=HOSPITAL_AE_DATA_LSOA,
                kinds={"pandas", "parquet"},
                tags={ZONE: "raw"},
                code_version=code_version(settings, *ATTENDANCE_PARAMETERS),
                description="Attendances with NHS number and postcode replaced by the LSOA and "
                "its IMD rank (raw zone).",
            ),
            "quarantined": dg.AssetOut(
                key=HOSPITAL_AE_QUARANTINE,
                kinds={"pandas", "parquet"},
                tags={ZONE: "raw"},
                code_version=code_version(settings, *ATTENDANCE_PARAMETERS),
                description="Attendances whose postcode the directory cannot place, kept with "
                "the reason instead of being dropped (raw zone).",
            ),
        },
        ins={
            "attendances": dg.AssetIn(HOSPITAL_AE_DATA),
            "directory": dg.AssetIn(LONDON_POSTCODES),
        },
        group_name="preparation",
        check_specs=[
            schema_spec(HOSPITAL_AE_DATA_LSOA),
            schema_spec(HOSPITAL_AE_QUARANTINE),
            quarantine_share_spec(settings.max_quarantine_share),
        ],
    )
    def lsoa_join(attendances: pd.DataFrame, directory: pd.DataFrame):
        """Join each attendance's postcode to its LSOA and IMD rank; never drop a row."""
        domain = settings.attendance_domain()
        joined, quarantined = join_postcode_directory(attendances, directory)
        reasons = quarantined[c.QUARANTINE_REASON].value_counts()
        yield dg.Output(
            joined,
            output_name="joined",
            metadata={"attendances in": len(attendances), "quarantined": len(quarantined)},
        )
        yield dg.Output(
            quarantined,
            output_name="quarantined",
            metadata={reason: int(reasons.get(reason, 0)) for reason in QUARANTINE_REASONS},
        )
        yield schema_result(HOSPITAL_AE_DATA_LSOA, joined, domain)
        yield schema_result(HOSPITAL_AE_QUARANTINE, quarantined, domain)
        yield quarantine_share(quarantined, joined, settings.max_quarantine_share)

    @dg.asset(
        key=DEIDENTIFIED,
        ins={
            "joined": dg.AssetIn(HOSPITAL_AE_DATA_LSOA),
            "quarantined": dg.AssetIn(HOSPITAL_AE_QUARANTINE),
            "directory": dg.AssetIn(LONDON_POSTCODES),
            # Only counted, by the check that no attendance is lost: no value is read.
            "attendances": dg.AssetIn(HOSPITAL_AE_DATA, metadata={COLUMNS: []}),
            "rejected": dg.AssetIn(HOSPITAL_AE_REJECTED),
        },
        group_name="preparation",
        kinds={"pandas", "parquet"},
        tags={ZONE: "deidentified"},
        code_version=code_version(settings, *DEIDENTIFIED_PARAMETERS),
        check_specs=[schema_spec(DEIDENTIFIED), ROWS_RECONCILE],
    )
    def hospital_ae_deidentified(
        joined: pd.DataFrame,
        quarantined: pd.DataFrame,
        directory: pd.DataFrame,
        attendances: pd.DataFrame,
        rejected: pd.DataFrame,
    ):
        """The de-identified attendances: no direct identifier, every quasi-identifier coarsened.

        Postcode becomes the IMD decile, hospital a keyed pseudonym (H + 6 digits), arrival
        time a date and a four-hour range, age a band; genders other than Male and Female are
        removed because so few records carry them.
        """
        key, key_source = pseudonym_key(settings)
        domain = settings.attendance_domain()
        result = deidentify(
            joined, key, settings.imd_deciles, directory[c.IMD_RANK], domain.hospitals
        )
        yield dg.Output(
            result.data,
            metadata={
                "attendances in": len(joined) + len(quarantined),
                "quarantined": len(quarantined),
                "removed by gender": result.removed_by_gender,
                "rows out": len(result.data),
                "IMD deciles": settings.imd_deciles,
                "hospitals": int(result.data[c.HOSPITAL_ID].nunique()),
                "pseudonym key from": key_source,
            },
        )
        yield schema_result(DEIDENTIFIED, result.data, domain)
        yield rows_reconcile(result.data, attendances, joined, quarantined, rejected)

    return [lsoa_join, hospital_ae_deidentified]


def pseudonym_key(settings: Settings) -> tuple[bytes, str]:
    """The key of the hospital pseudonyms, and where it comes from (never the key itself)."""
    if settings.pseudonym_key:
        return settings.pseudonym_key.encode("utf-8"), "AESYNTH_PSEUDONYM_KEY"
    return lake_pseudonym_key(lake_path(settings.data_lake)), "the lake's raw zone"
