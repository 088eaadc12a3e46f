"""The pipeline's own assets, materialised for a benchmark into a lake of its settings."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd

from aesynth_pipeline.definitions import build_assets, build_resources
from aesynth_pipeline.settings import Settings

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def materialised(settings: Settings, *keys: dg.AssetKey) -> dict[dg.AssetKey, pd.DataFrame]:
    """`keys` and everything upstream of them, with their checks, materialised in
    `settings.data_lake` (a local folder), and the tables of `keys` read back."""
    dg.materialize(
        build_assets(settings),
        resources=build_resources(settings),
        selection=dg.AssetSelection.assets(*keys).upstream().required_multi_asset_neighbors(),
        run_config=QUIET_LOGS,
    )
    lake = Path(settings.data_lake)
    return {key: pd.read_parquet(lake.joinpath(*key.path[:-1], f"{key.path[-1]}.parquet"))
            for key in keys}  # fmt: skip
