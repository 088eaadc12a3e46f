"""Schema validation of every DataFrame asset at 10k, 100k and 1M rows: the pipeline's models
(`checks.schema_failures`, as the blocking asset checks run them) beside the same rules in
pandera's own dtype and checks (`str`, `isin`, `str_matches`, the domain's
`nhs_number_is_valid`, validated on a copy), which is how the models were written before
their text checks were vectorised.

The frames are the pipeline's own assets: a small lake is materialised (random mode only), and
each of its tables resampled to each size, with the values that must be unique drawn afresh
(attendance IDs, postcodes of the directory) and NHS numbers drawn from the whole test range,
one per patient as the generator draws them. Each is validated as an asset check gets it,
read afresh from a Parquet file, and again once its values are in the processor's caches.
Both sides must find every frame valid; the figures are CPU seconds, the best of the
repeats, the two sides taking turns.

    python benchmarks/schema_benchmark.py [--rows 10000 100000 1000000] [--repeats 3]
        [--models HospitalAeData ...] [--output benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pipeline_data import materialised
from results_file import command_line, machine, write_section

from aesynth_pipeline import columns as c
from aesynth_pipeline import schemas
from aesynth_pipeline.assets.keys import (
    DEIDENTIFIED,
    DISCLOSURE_RISK,
    EVALUATION_REPORT,
    HOSPITAL_AE_DATA,
    HOSPITAL_AE_DATA_LSOA,
    LONDON_POSTCODES,
    synthetic_key,
)
from aesynth_pipeline.checks import schema_failures
from aesynth_pipeline.domain.deidentify import QUARANTINE_REASONS
from aesynth_pipeline.domain.document import markdown_table
from aesynth_pipeline.domain.generate import (
    format_nhs_numbers,
    nhs_number_is_valid,
    valid_test_nhs_numbers,
)
from aesynth_pipeline.settings import Settings

HEADING = "## Schema validation"
DEFAULT_ROWS = (10_000, 100_000, 1_000_000)
LAKE_ROWS = 20_000
# Letters the postcode pattern allows in the last two places of a postcode.
INWARD_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"), dtype=object)


def builtin_schema(model: type[pa.DataFrameModel]) -> pa.DataFrameSchema:
    """`model`'s rules in pandera's own dtype and checks, as the models declared them before
    their text checks were vectorised."""
    schema = model.to_schema()
    builtins: dict[str, Callable[[pa.Check], pa.Check]] = {
        "one_of": lambda check: pa.Check.isin(check.statistics["values"]),
        "matches": lambda check: pa.Check.str_matches(check.statistics["pattern"]),
        "valid_check_digit": lambda check: pa.Check(
            nhs_number_is_valid, name=check.name, error=check.error
        ),
    }
    return schema.update_columns(
        {
            name: {
                "dtype": str if isinstance(column.dtype, schemas.Text) else column.dtype,
                "checks": [builtins.get(k.name, lambda k: k)(k) for k in column.checks],
            }
            for name, column in schema.columns.items()
        }
    )


def lake_tables(lake: Path) -> dict[type[pa.DataFrameModel], pd.DataFrame]:
    """One small run's table of each kind, read back from its lake."""
    settings = Settings(data_lake=str(lake), rows=LAKE_ROWS, modes=("random",), pseudonym_key="k")
    keys = {
        schemas.LondonPostcodes: LONDON_POSTCODES,
        schemas.HospitalAeData: HOSPITAL_AE_DATA,
        schemas.HospitalAeDataLsoa: HOSPITAL_AE_DATA_LSOA,
        schemas.HospitalAeDeidentified: DEIDENTIFIED,
        schemas.SyntheticDataset: synthetic_key("random"),
        schemas.EvaluationMetrics: EVALUATION_REPORT,
        schemas.DisclosureRisk: DISCLOSURE_RISK,
    }
    tables = materialised(settings, *keys.values())
    frames = {model: tables[key] for model, key in keys.items()}
    # A run quarantines few attendances, if any: raw ones stand in, each given a reason.
    frames[schemas.HospitalAeQuarantine] = (
        frames[schemas.HospitalAeData]
        .drop(columns=c.HEALTH_SERVICE_ID)
        .assign(**{c.QUARANTINE_REASON: QUARANTINE_REASONS[0]})[c.QUARANTINE_COLUMNS]
    )
    return frames


def attendance_ids(rng: np.random.Generator, rows: int) -> np.ndarray:
    high, low = rng.integers(0, 2**62, size=(2, rows))
    return np.array([f"{h:016x}-{lo:016x}" for h, lo in zip(high, low, strict=True)], object)


def unique_postcodes(outward: np.ndarray, rows: int) -> np.ndarray:
    """`rows` distinct postcodes in the directory's outward codes, like 'E5 0QZ'."""
    step = np.arange(rows) // len(outward)
    if step.max(initial=0) >= 10 * len(INWARD_LETTERS) ** 2:
        raise ValueError(f"{len(outward)} outward codes cannot hold {rows:,} postcodes")
    inward = (
        pd.Series(step // len(INWARD_LETTERS) ** 2 % 10).astype(str)
        + INWARD_LETTERS[step // len(INWARD_LETTERS) % len(INWARD_LETTERS)]
        + INWARD_LETTERS[step % len(INWARD_LETTERS)]
    )
    return (pd.Series(outward[np.arange(rows) % len(outward)]) + " " + inward).to_numpy(object)


def resampled(
    model: type[pa.DataFrameModel], table: pd.DataFrame, rows: int, rng: np.random.Generator
) -> pd.DataFrame:
    frame = table.iloc[rng.integers(0, len(table), size=rows)].reset_index(drop=True)
    if c.ATTENDANCE_ID in frame:
        frame[c.ATTENDANCE_ID] = attendance_ids(rng, rows)
    if c.HEALTH_SERVICE_ID in frame:
        pool = valid_test_nhs_numbers()
        numbers = rng.choice(pool, size=rows, replace=rows > len(pool))
        frame[c.HEALTH_SERVICE_ID] = format_nhs_numbers(numbers)
    if model is schemas.LondonPostcodes:
        outward = table[c.POSTCODE].str.split(" ").str[0].unique()
        frame[c.POSTCODE] = unique_postcodes(outward, rows)
    return frame


def timed(validate: Callable[..., object], *args: object) -> tuple[float, object]:
    """CPU seconds of this process (of all its threads): unlike wall seconds, not inflated by
    the other processes that share the machine's cores."""
    started = time.process_time()
    result = validate(*args)
    return time.process_time() - started, result


def best_seconds(
    model: type[pa.DataFrameModel], frame: pd.DataFrame, repeats: int, folder: Path
) -> dict[str, tuple[float, float]]:
    """Best seconds of each side, on frames read afresh from Parquet before each validation (as
    an asset check reads its asset) and on the same frame validated again (warm caches)."""
    reference = builtin_schema(model)
    path = folder / f"{model.__name__}.parquet"
    frame.to_parquet(path, index=False)
    sides = {
        "old": lambda frame: reference.validate(frame, lazy=True),
        "new": lambda frame: schema_failures(model, frame, True),
    }
    seconds: dict[tuple[str, str], list[float]] = {}
    for _ in range(repeats):  # the two sides take turns
        for read in ("fresh", "again"):
            for side, validate in sides.items():
                took, result = timed(validate, pd.read_parquet(path) if read == "fresh" else frame)
                if side == "new" and result is not None:
                    raise AssertionError(f"{model.__name__} at {len(frame):,} rows:\n{result}")
                seconds.setdefault((read, side), []).append(took)
    return {
        read: (min(seconds[read, "old"]), min(seconds[read, "new"])) for read in ("fresh", "again")
    }


def results_table(seconds: dict[tuple[str, int], tuple[float, float]]) -> str:
    rows = [
        {
            "model": name,
            **{
                f"{rows:,} rows": f"{old:.3f} → {new:.3f} ({old / new:.1f}×)"
                for (model, rows), (old, new) in seconds.items()
                if model == name
            },
        }
        for name in dict.fromkeys(name for name, _ in seconds)
    ]
    return markdown_table(pd.DataFrame(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=list(DEFAULT_ROWS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", help="only these models, by class name")
    parser.add_argument("--output", type=Path, help="write the tables into this Markdown file")
    arguments = parser.parse_args()
    started = time.perf_counter()
    fresh: dict[tuple[str, int], tuple[float, float]] = {}
    again: dict[tuple[str, int], tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        tables = lake_tables(Path(scratch) / "lake")
        rng = np.random.default_rng(42)
        for rows in arguments.rows:
            for model, table in tables.items():
                if arguments.models and model.__name__ not in arguments.models:
                    continue
                frame = resampled(model, table, rows, rng)
                best = best_seconds(model, frame, arguments.repeats, Path(scratch))
                fresh[model.__name__, rows] = best["fresh"]
                again[model.__name__, rows] = best["again"]
                print(f"{model.__name__} {rows:,}: {best}", file=sys.stderr)
    command = command_line()
    minutes = (time.perf_counter() - started) / 60
    text = "\n\n".join(
        [
            f"`{command}` on {machine()}, {dt.date.today().isoformat()}: {minutes:.0f} minutes.",
            "CPU seconds to validate a valid frame, best of "
            f"{arguments.repeats}: pandera's own dtype and checks (`str`, `isin`, "
            "`str_matches`, validated on a copy) → the pipeline's models as its schema checks "
            "run them (`Text`, `one_of`, `matches`, in place). Frames resampled from a "
            f"{LAKE_ROWS:,}-row run's assets.",
            "Each frame read afresh from Parquet before it is validated, as an asset check "
            "reads its asset:",
            results_table(fresh),
            "The same frame validated again, its values already in the processor's caches:",
            results_table(again),
        ]
    )
    print(text)
    if arguments.output:
        write_section(arguments.output, HEADING, text)


if __name__ == "__main__":
    main()
