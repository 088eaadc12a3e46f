"""Persist assets in the data lake, one file per asset key: DataFrames as Parquet,
dictionaries (DataSynthesizer descriptions) as JSON."""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
import pandas as pd
from upath import UPath

from aesynth_pipeline.checks import SCHEMA_BY_ASSET
from aesynth_pipeline.lake import RAW_ZONE, lake_path, make_folder, write_atomically
from aesynth_pipeline.schemas import structure_problems

_DTYPE_NAMES = {"object": "string", "str": "string"}


def column_schema(frame: pd.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=str(name), type=_DTYPE_NAMES.get(str(dtype), str(dtype)))
            for name, dtype in frame.dtypes.items()
        ]
    )


class LakeIOManager(dg.UPathIOManager):
    """Files under the lake's base path; a folder that cannot be made fails with a clear
    message rather than a bare OSError."""

    def make_directory(self, path: UPath) -> None:
        make_folder(path)


# An input's metadata key: load only these columns (none, to count the rows without reading
# any value), e.g. `dg.AssetIn(key, metadata={COLUMNS: []})`.
COLUMNS = "columns"


class ParquetIOManager(LakeIOManager):
    """Writes each DataFrame atomically (temporary file, then rename) and reports its shape.
    An input whose metadata names its `COLUMNS` gets those only."""

    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: pd.DataFrame, path: UPath) -> None:
        def write(target: UPath) -> None:
            with target.open("wb") as file:
                obj.to_parquet(file, index=False)

        write_atomically(path, write, private=_is_raw(context))

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pd.DataFrame:
        columns = (context.definition_metadata or {}).get(COLUMNS)
        with path.open("rb") as file:
            frame = pd.read_parquet(file, columns=columns)
        if context.has_asset_key and columns is None:
            _require_stored_structure(context.asset_key, frame, path)
        return frame

    def get_metadata(self, context: dg.OutputContext, obj: Any) -> dict[str, Any]:
        if not isinstance(obj, pd.DataFrame):
            return {}
        return {
            "dagster/row_count": dg.MetadataValue.int(len(obj)),
            "dagster/column_schema": column_schema(obj),
        }


class StoredAssetChanged(ValueError):
    """A file in the lake no longer has the columns its asset is written with."""


def _require_stored_structure(key: dg.AssetKey, frame: pd.DataFrame, path: UPath) -> None:
    """Refuse to hand on a stored asset whose columns were changed outside the pipeline."""
    if key not in SCHEMA_BY_ASSET:
        return
    model, _ = SCHEMA_BY_ASSET[key]
    problems = structure_problems(model, frame)
    if problems:
        raise StoredAssetChanged(
            f"{path} does not have the columns of the {model.__name__} schema it was written "
            f"with: {'; '.join(problems)}. It was changed outside the pipeline; materialise "
            f"{key.to_user_string()} again to replace it."
        )


def _is_raw(context: dg.OutputContext) -> bool:
    """Raw-zone assets hold patient-identifying values; their files are owner-only."""
    return context.has_asset_key and context.asset_key.path[0] == RAW_ZONE


class ParquetLake(dg.ConfigurableIOManagerFactory):
    """The data lake as Parquet files under `base_path` (a local folder or a storage URL)."""

    base_path: str

    def create_io_manager(self, context: dg.InitResourceContext) -> ParquetIOManager:
        return ParquetIOManager(base_path=lake_path(self.base_path))


class JsonIOManager(LakeIOManager):
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
