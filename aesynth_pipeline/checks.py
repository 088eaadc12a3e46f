"""Blocking asset checks: a failed check stops every asset downstream of the bad data."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pandera.pandas as pa

from aesynth_pipeline import columns as c
from aesynth_pipeline import schemas
from aesynth_pipeline.assets.keys import (
    DEIDENTIFIED,
    HOSPITAL_AE_DATA,
    HOSPITAL_AE_DATA_LSOA,
    HOSPITAL_AE_QUARANTINE,
    LONDON_POSTCODES,
)
from aesynth_pipeline.domain.deidentify import KEPT_GENDERS

# Raw-zone failures are reported by column, rule and count only: their values may identify
# a patient, so they never reach the check's metadata.
SCHEMA_BY_ASSET: dict[dg.AssetKey, tuple[type[pa.DataFrameModel], bool]] = {
    LONDON_POSTCODES: (schemas.LondonPostcodes, True),
    HOSPITAL_AE_DATA: (schemas.HospitalAeData, False),
    HOSPITAL_AE_DATA_LSOA: (schemas.HospitalAeDataLsoa, False),
    HOSPITAL_AE_QUARANTINE: (schemas.HospitalAeQuarantine, False),
    DEIDENTIFIED: (schemas.HospitalAeDeidentified, True),
}

_EXAMPLES_PER_RULE = 5


def schema_failures(
    model: type[pa.DataFrameModel], frame: pd.DataFrame, show_values: bool
) -> pd.DataFrame | None:
    """One row per broken rule (column, rule, failing rows), or None when the frame conforms."""
    try:
        model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases.assign(
            column=lambda f: f["column"].fillna("(table)").astype(str),
            check=lambda f: f["check"].astype(str),
            failure_case=lambda f: f["failure_case"].astype(str),
        )
        summary = cases.groupby(["column", "check"], sort=False).agg(
            failing_rows=("failure_case", "size"),
            first_values=("failure_case", lambda v: ", ".join(v.head(_EXAMPLES_PER_RULE))),
        )
        summary = summary.reset_index()
        if not show_values:
            summary = summary.drop(columns="first_values")
        return summary
    return None


def _schema_check(asset_key: dg.AssetKey, model: type[pa.DataFrameModel], show_values: bool):
    @dg.asset_check(
        asset=asset_key,
        name=f"conforms_to_{model.__name__}",
        blocking=True,
        description=f"Every row satisfies the {model.__name__} schema: {model.__doc__}",
    )
    def conforms(frame: pd.DataFrame) -> dg.AssetCheckResult:
        failures = schema_failures(model, frame, show_values)
        if failures is None:
            return dg.AssetCheckResult(passed=True, metadata={"rows checked": len(frame)})
        return dg.AssetCheckResult(
            passed=False,
            description=f"{int(failures['failing_rows'].sum())} failure(s) of the "
            f"{model.__name__} schema",
            metadata={
                "rows checked": len(frame),
                "broken rules": dg.MetadataValue.md(_markdown_table(failures)),
            },
        )

    return conforms


def _markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |"
            for row in frame.itertuples(index=False)]  # fmt: skip
    return "\n".join([header, rule, *rows])


@dg.asset_check(
    asset=DEIDENTIFIED,
    blocking=True,
    additional_ins={
        "attendances": dg.AssetIn(HOSPITAL_AE_DATA),
        "joined": dg.AssetIn(HOSPITAL_AE_DATA_LSOA),
        "quarantined": dg.AssetIn(HOSPITAL_AE_QUARANTINE),
    },
    description="No attendance is lost: raw rows = de-identified rows + rows removed for a "
    "rare gender + quarantined rows.",
)
def rows_reconcile(
    deidentified: pd.DataFrame,
    attendances: pd.DataFrame,
    joined: pd.DataFrame,
    quarantined: pd.DataFrame,
) -> dg.AssetCheckResult:
    removed_by_gender = int((~joined[c.GENDER].isin(KEPT_GENDERS)).sum())
    accounted = len(deidentified) + removed_by_gender + len(quarantined)
    return dg.AssetCheckResult(
        passed=accounted == len(attendances),
        metadata={
            "raw rows": len(attendances),
            "de-identified rows": len(deidentified),
            "removed by gender": removed_by_gender,
            "quarantined": len(quarantined),
            "unaccounted": len(attendances) - accounted,
        },
    )


def build_checks() -> list[dg.AssetChecksDefinition]:
    return [
        *(_schema_check(key, model, show) for key, (model, show) in SCHEMA_BY_ASSET.items()),
        rows_reconcile,
    ]
