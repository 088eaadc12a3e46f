"""Real materialisations of the pipeline into temporary data lakes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from aesynth_pipeline.assets.keys import DEIDENTIFIED, EVALUATION_REPORT
from aesynth_pipeline.definitions import build_assets, build_resources
from aesynth_pipeline.domain.deidentify import hospital_pseudonyms
from aesynth_pipeline.domain.generate import HOSPITALS
from aesynth_pipeline.domain.public_domain import PublicDomain, public_domain
from aesynth_pipeline.settings import Settings

DISTRIBUTION_ROWS = 100_000
# For small runs whose subject is not the release gate: a few thousand rows are too few for
# the gate's fidelity bar, and a fixed pseudonym key makes their synthetic data repeatable.
SMALL_RUN = {"rows": 3_000, "pseudonym_key": "k", "gate_tolerance_1way": 1.0,
             "gate_tolerance_2way": 1.0, "gate_standard_errors": 1_000.0}  # fmt: skip


@pytest.fixture(scope="session", autouse=True)
def _one_jax_compilation_cache(tmp_path_factory):
    """One folder for the programs AIM compiles, for every run of the session, those in
    subprocesses included: each fresh process would otherwise compile them all again."""
    folder = tmp_path_factory.mktemp("jax-compilation-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JAX_COMPILATION_CACHE_DIR", str(folder))
        yield


def declared_domain(pseudonym_key: str = "k") -> PublicDomain:
    """The synthesisers' domain for a lake whose hospital pseudonyms use this key."""
    return public_domain(hospital_pseudonyms(HOSPITALS, pseudonym_key.encode("utf-8")).values())


@dataclass
class Run:
    """One materialisation of every asset and check, and the lake it wrote."""

    result: dg.ExecuteInProcessResult
    lake: Path
    settings: Settings

    def read(self, *key: str) -> pd.DataFrame:
        return pd.read_parquet(self.lake.joinpath(*key[:-1], f"{key[-1]}.parquet"))

    def metadata(self, key: dg.AssetKey) -> dict[str, object]:
        [event] = [e for e in self.result.get_asset_materialization_events() if e.asset_key == key]
        return {name: value.value for name, value in event.materialization.metadata.items()}

    def checks(self) -> dict[tuple[dg.AssetKey, str], bool]:
        return {
            (e.asset_key, e.check_name): e.passed for e in self.result.get_asset_check_evaluations()
        }


# Everything up to the de-identified dataset, without synthesis.
FOUNDATION = dg.AssetSelection.assets(DEIDENTIFIED).upstream()
# Everything but the evaluation report, whose release gate small test datasets would fail.
UP_TO_SYNTHESIS = dg.AssetSelection.all() - dg.AssetSelection.assets(EVALUATION_REPORT)


def materialise_pipeline(
    lake: Path,
    raise_on_error: bool = True,
    selection: dg.AssetSelection | None = None,
    **parameters: object,
) -> Run:
    settings = Settings(data_lake=str(lake), **parameters)
    result = dg.materialize(
        build_assets(settings),
        resources=build_resources(settings),
        raise_on_error=raise_on_error,
        selection=selection,
    )
    return Run(result=result, lake=lake, settings=settings)


@pytest.fixture
def materialise(tmp_path: Path) -> Callable[..., Run]:
    """Materialise everything into a fresh lake under tmp_path (or a named sub-lake)."""

    def run(lake_name: str = "lake", **parameters: object) -> Run:
        return materialise_pipeline(tmp_path / lake_name, **parameters)

    return run


@pytest.fixture(scope="session")
def pipeline_100k(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The pipeline up to de-identification at 100,000 rows, shared by the distribution tests."""
    return materialise_pipeline(
        tmp_path_factory.mktemp("lake-100k"), rows=DISTRIBUTION_ROWS, selection=FOUNDATION
    )
