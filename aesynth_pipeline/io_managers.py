"""Persist assets in the data lake, one file per asset key: DataFrames as Parquet,
dictionaries (DataSynthesizer descriptions) as JSON."""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
import pandas as pd
from upath import UPath

from aesynth_pipeline.lake import RAW_ZONE, lake_path, write_atomically

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

        write_atomically(path, write, private=_is_raw(context))

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


def _is_raw(context: dg.OutputContext) -> bool:
    """Raw-zone assets hold patient-identifying values; their files are owner-only."""
    return context.has_asset_key and context.asset_key.path[0] == RAW_ZONE


class ParquetLake(dg.ConfigurableIOManagerFactory):
    """The data lake as Parquet files under `base_path` (a local folder or a storage URL)."""

    base_path: str

    def create_io_manager(self, context: dg.InitResourceContext) -> ParquetIOManager:
        return ParquetIOManager(base_path=lake_path(self.base_path))


class JsonIOManager(dg.UPathIOManager):
    """Writes each JSON-ready dictionary atomically, indented, as DataSynthesizer saves its own."""

    extension = ".json"

    def dump_to_path(self, context: dg.OutputContext, obj: dict[str, Any], path: UPath) -> None:
        text = json.dumps(obj, indent=4)
        write_atomically(path, lambda target: target.write_text(text))

    def load_from_path(self, context: dg.InputContext, path: UPath) -> dict[str, Any]:
        return json.loads(path.read_text())


class JsonLake(dg.ConfigurableIOManagerFactory):
    """JSON files under `base_path`, beside the Parquet files."""

    base_path: str

    def create_io_manager(self, context: dg.InitResourceContext) -> JsonIOManager:
        return JsonIOManager(base_path=lake_path(self.base_path))
