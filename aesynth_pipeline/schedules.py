"""Jobs (and, with them, schedules) over the asset graph."""

import dagster as dg

everything_job = dg.define_asset_job(
    "materialize_everything",
    selection=dg.AssetSelection.all(),
    description="Materialise every asset and run every asset check.",
)
