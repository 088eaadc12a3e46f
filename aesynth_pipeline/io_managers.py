"""Persist DataFrame assets as Parquet files in the data lake, one file per asset key."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd
from upath import UPath

from aesynth_pipeline.lake import lake_path, write_atomically

_DTYPE_NAMES = {"object": "string", "str": "string"}


def column_schema(frame: pd.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=str(name), type=_DTYPE_NAMES.get(str(dtype), str(dtype)))
            for name, dtype in frame.dtypes.items()
        ]
    )


class ParquetIOManager(dg.UPathIOManager):
    """Writes each DataFrame atomically (temporary file, then rename) and reports its shape."""

    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: pd.DataFrame, path: UPath) -> None:
        def write(target: UPath) -> None:
            with target.open("wb") as file:
                obj.to_parquet(file, index=False)

        write_atomically(path, write)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pd.DataFrame:
        with path.open("rb") as file:
            return pd.read_parquet(file)

    def get_metadata(self, context: dg.OutputContext, obj: Any) -> dict[str, Any]:
        if not isinstance(obj, pd.DataFrame):
            return {}
        return {
            "dagster/row_count": dg.MetadataValue.int(len(obj)),
            "dagster/column_schema": column_schema(obj),
        }


class ParquetLake(dg.ConfigurableIOManagerFactory):
    """The data lake as Parquet files under `base_path` (a local folder or a storage URL)."""

    base_path: str

    def create_io_manager(self, context: dg.InitResourceContext) -> ParquetIOManager:
        return ParquetIOManager(base_path=lake_path(self.base_path))
