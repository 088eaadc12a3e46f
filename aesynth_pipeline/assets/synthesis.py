"""Synthesis assets: the training / hold-out split, then a DataSynthesizer description and a
synthetic dataset per mode, all three built by one factory."""

import os
import time
from pathlib import Path

import dagster as dg
import pandas as pd

from aesynth_pipeline.assets.keys import (
    DEIDENTIFIED,
    DEIDENTIFIED_HOLDOUT,
    DEIDENTIFIED_TRAIN,
    description_key,
    synthetic_key,
)
from aesynth_pipeline.assets.preparation import pseudonym_key
from aesynth_pipeline.assets.source import ZONE
from aesynth_pipeline.assets.versions import (
    SPLIT_PARAMETERS,
    code_version,
    description_version,
    synthetic_version,
)
from aesynth_pipeline.checks import network_result, network_spec, schema_result, schema_spec
from aesynth_pipeline.domain import ledger
from aesynth_pipeline.domain.attributes import bayesian_network
from aesynth_pipeline.domain.deidentify import hospital_pseudonyms
from aesynth_pipeline.domain.document import markdown_table
from aesynth_pipeline.domain.holdout import split_train_holdout
from aesynth_pipeline.domain.modes import MODE_SPECS, Mode
from aesynth_pipeline.domain.public_domain import (
    PublicDomain,
    outside_time_bins,
    public_domain,
    with_time_bins_merged,
)
from aesynth_pipeline.domain.synthesise import SynthesisParameters, describe, generate, mode_seed
from aesynth_pipeline.io_managers import COLUMNS
from aesynth_pipeline.settings import Settings

PREVIEW_ROWS = 10


def build_synthesis_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    @dg.multi_asset(
        outs={
            "training": dg.AssetOut(
                key=DEIDENTIFIED_TRAIN,
                kinds={"pandas", "parquet"},
                tags={ZONE: "deidentified"},
                code_version=code_version(settings, *SPLIT_PARAMETERS),
                description="The de-identified rows the synthesiser learns from.",
            ),
            "holdout": dg.AssetOut(
                key=DEIDENTIFIED_HOLDOUT,
                kinds={"pandas", "parquet"},
                tags={ZONE: "deidentified"},
                code_version=code_version(settings, *SPLIT_PARAMETERS),
                description="De-identified rows never shown to the synthesiser: the yardstick "
                "for the evaluation's privacy and utility figures.",
            ),
        },
        ins={"deidentified": dg.AssetIn(DEIDENTIFIED)},
        group_name="synthesis",
        check_specs=[schema_spec(DEIDENTIFIED_TRAIN), schema_spec(DEIDENTIFIED_HOLDOUT)],
    )
    def train_holdout_split(deidentified: pd.DataFrame):
        """Split the de-identified dataset once, at random (seeded), into training and hold-out."""
        training, holdout = split_train_holdout(deidentified, settings.holdout_share, settings.seed)
        share = {"hold-out share": settings.holdout_share}
        yield dg.Output(training, output_name="training", metadata=share)
        yield dg.Output(holdout, output_name="holdout", metadata=share)
        domain = settings.attendance_domain()
        yield schema_result(DEIDENTIFIED_TRAIN, training, domain)
        yield schema_result(DEIDENTIFIED_HOLDOUT, holdout, domain)

    return [
        train_holdout_split,
        *(asset for mode in settings.modes for asset in _mode_assets(mode, settings)),
    ]


def declared_domain(settings: Settings, mode: Mode | None = None) -> PublicDomain:
    """The values every synthesiser may see: declared lists and dates (the mock's or the
    domain file's), the pseudonyms of the declared hospitals, and the Time in A&E bins of the
    settings up to the declared longest stay, merged as `mode` merges them."""
    key, _ = pseudonym_key(settings)
    declared = settings.attendance_domain()
    domain = public_domain(
        hospital_pseudonyms(declared.hospitals, key).values(), settings.time_in_ae_edges, declared
    )
    return with_time_bins_merged(domain, MODE_SPECS[mode].time_bins_merged) if mode else domain


def _mode_assets(mode: Mode, settings: Settings) -> list[dg.AssetsDefinition]:
    def parameters() -> SynthesisParameters:
        # Built when the asset runs: the hospital pseudonyms need the lake's key.
        return SynthesisParameters(
            mode=mode,
            epsilon=settings.epsilon,
            degree=settings.bn_degree,
            seed=mode_seed(settings.seed, mode),
            engine=settings.engine,
            domain=declared_domain(settings, mode),
            delta=settings.delta,
            max_model_size_mb=settings.aim_max_model_size_mb,
            compilation_cache=compilation_cache(),
        )

    @dg.asset(
        key=description_key(mode),
        ins={"training": dg.AssetIn(DEIDENTIFIED_TRAIN)},
        io_manager_key="json_io_manager",
        group_name="synthesis",
        kinds={_engine(mode, settings), "json"},
        code_version=description_version(settings, mode),
        description=f"The description of the training data in {mode} mode, by "
        f"{_describer(mode, settings)}: {MODE_SPECS[mode].summary}. "
        f"{_description_format(mode)}, over the declared domain of every attribute.",
        check_specs=[network_spec(settings.bn_degree)] if mode == "correlated" else None,
    )
    def description(context: dg.AssetExecutionContext, training: pd.DataFrame):
        started = time.perf_counter()
        synthesis = parameters()
        result = describe(training, synthesis, progress=context.log.info)
        low, high = synthesis.domain.time_bounds
        metadata = {
            "mode": mode,
            "attributes": len(synthesis.domain.sizes),
            "training rows": len(training),
            "seconds taken": round(time.perf_counter() - started, 2),
            f"stays outside {low}-{high} minutes, clipped": outside_time_bins(
                training, synthesis.domain
            ),
        }
        spent = result["privacy_ledger"]["total"]
        metadata["privacy ledger"] = dg.MetadataValue.md(
            markdown_table(ledger.totals_table({mode: result["privacy_ledger"]}))
            + "\n\n"
            + markdown_table(ledger.charges_table({mode: result["privacy_ledger"]}))
        )
        metadata["epsilon spent"] = (
            "none: no noise" if spent["epsilon"] is None else spent["epsilon"]
        )
        if mode != "random":
            metadata["epsilon"] = settings.epsilon
        if mode != "aim":
            metadata["engine"] = settings.engine
        if mode == "correlated":
            metadata["k (parents per node)"] = settings.bn_degree
            metadata["Bayesian network"] = dg.MetadataValue.md(
                _network_markdown(bayesian_network(result))
            )
        if mode == "aim":
            metadata["delta"] = settings.delta
            metadata["rho (zCDP)"] = result["privacy"]["rho"]
            metadata["measurements"] = len(result["measurements"])
            metadata["model cliques"] = dg.MetadataValue.md(
                "\n".join(f"- {' × '.join(clique)}" for clique in result["model"]["cliques"])
            )
        yield dg.Output(result, metadata=metadata)
        if mode == "correlated":
            yield network_result(result, settings.bn_degree)

    @dg.asset(
        key=synthetic_key(mode),
        ins={
            "description": dg.AssetIn(description_key(mode)),
            # Only counted: no value is read.
            "training": dg.AssetIn(DEIDENTIFIED_TRAIN, metadata={COLUMNS: []}),
        },
        group_name="synthesis",
        kinds={"pandas", "parquet"},
        tags={ZONE: "synthetic"},
        code_version=synthetic_version(settings, mode),
        description=f"Synthetic A&E attendances generated in {mode} mode: "
        f"{MODE_SPECS[mode].summary}. Same columns, order and types as the de-identified data. "
        "Its comparison with the training data is in the evaluation report.",
        check_specs=[schema_spec(synthetic_key(mode))],
    )
    def synthetic(description: dict, training: pd.DataFrame):
        rows = settings.synthetic_rows or len(training)
        started = time.perf_counter()
        frame = generate(description, rows, parameters())
        seconds = round(time.perf_counter() - started, 2)
        yield dg.Output(
            frame,
            metadata={
                "mode": mode,
                "rows": len(frame),
                "seconds taken": seconds,
                # Synthetic records carry no identifier, so a preview is safe here.
                "preview": dg.MetadataValue.md(markdown_table(frame.head(PREVIEW_ROWS))),
            },
        )
        yield schema_result(synthetic_key(mode), frame, settings.attendance_domain())

    return [description, synthetic]


def compilation_cache() -> str | None:
    """Where JAX keeps the programs AIM compiles: JAX's own JAX_COMPILATION_CACHE_DIR when it
    is set, else the Dagster instance's folder, so that every run of the instance shares them
    (none when neither is set)."""
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return os.environ["JAX_COMPILATION_CACHE_DIR"]
    home = os.environ.get("DAGSTER_HOME")
    return str(Path(home) / "jax_compilation_cache") if home else None


def _engine(mode: Mode, settings: Settings) -> str:
    return MODE_SPECS[mode].engine or settings.engine


def _describer(mode: Mode, settings: Settings) -> str:
    return {
        "fast": f"the fast engine (DataSynthesizer's {mode}-mode algorithm, vectorised)",
        "mbi": "AIM on mbi (private-pgm)",
    }.get(_engine(mode, settings), "DataSynthesizer")


def _description_format(mode: Mode) -> str:
    if mode == "aim":
        return "JSON holding the noisy measurements, the privacy ledger and the model's cliques"
    return "Saved in DataSynthesizer's own JSON format"


def _network_markdown(network: list[tuple[str, list[str]]]) -> str:
    if not network:
        return "(empty)"
    root = network[0][1][0]
    lines = [f"- **{root}** (root)"]
    lines += [f"- **{child}** ← {', '.join(parents)}" for child, parents in network]
    return "\n".join(lines)
