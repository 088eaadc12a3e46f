"""Synthetic data with DataSynthesizer, in its random, independent and correlated modes.

This is the one module that talks to DataSynthesizer. It works around the package's defects
(see the notes at each workaround) without patching it, and hands the rest of the pipeline
plain DataFrames and plain JSON-ready dictionaries. Correlated mode can instead run on the
"fast" engine (`privbayes.py`): the same algorithm and description format, vectorised.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import signal
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from DataSynthesizer.DataDescriber import DataDescriber
from DataSynthesizer.DataGenerator import DataGenerator

from aesynth_pipeline.columns import DEIDENTIFIED_COLUMNS
from aesynth_pipeline.domain import privbayes
from aesynth_pipeline.domain.attributes import (
    ATTRIBUTE_DATATYPES,
    ATTRIBUTE_IS_CANDIDATE_KEY,
    ATTRIBUTE_IS_CATEGORICAL,
    SynthesisError,
    as_deidentified_frame,
    require_deidentified_columns,
)
from aesynth_pipeline.domain.modes import MODES, Mode

# Who runs correlated mode: DataSynthesizer itself, or the vectorised re-implementation.
Engine = Literal["datasynthesizer", "fast"]
ENGINES: tuple[Engine, ...] = ("datasynthesizer", "fast")
DEFAULT_ENGINE: Engine = "datasynthesizer"

# DataSynthesizer's random mode draws non-categorical integers uniformly from this range,
# whatever the data's own range (its documented behaviour).
RANDOM_MODE_INTEGER_RANGE = (0, 100)


@dataclass(frozen=True)
class SynthesisParameters:
    mode: Mode
    epsilon: float
    degree: int
    seed: int
    # Used by correlated mode only; random and independent modes always run DataSynthesizer.
    engine: Engine = DEFAULT_ENGINE

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise SynthesisError(f"the engine must be one of {list(ENGINES)}, got {self.engine!r}")

    @property
    def uses_fast_engine(self) -> bool:
        return self.mode == "correlated" and self.engine == "fast"

    def __str__(self) -> str:
        if self.mode == "random":
            return f"random mode (seed {self.seed})"
        if self.mode == "independent":
            return f"independent mode (epsilon {self.epsilon}, seed {self.seed})"
        return (
            f"correlated mode (epsilon {self.epsilon}, k {self.degree}, seed {self.seed}) "
            f"on the {self.engine} engine"
        )


def mode_seed(seed: int, mode: Mode) -> int:
    """A seed for one mode, derived from the pipeline's seed, that DataSynthesizer accepts."""
    return int(np.random.SeedSequence([seed, 4, MODES.index(mode)]).generate_state(1)[0])


def describe(training: pd.DataFrame, parameters: SynthesisParameters) -> dict[str, Any]:
    """DataSynthesizer's description of `training` in the given mode, as a JSON-ready dict.

    The result is exactly what DataSynthesizer would save, except that the conditional
    probability keys are plain integer lists, so any DataGenerator can read the file.
    """
    if parameters.uses_fast_engine:
        with _fast_engine_errors(parameters):
            return privbayes.describe_correlated(
                training, parameters.epsilon, parameters.degree, parameters.seed
            )
    require_deidentified_columns(training)
    if parameters.mode == "correlated" and not 1 <= parameters.degree < len(training.columns):
        raise SynthesisError(
            f"{parameters}: k must be at least 1 and below the number of attributes "
            f"({len(training.columns)})"
        )
    describer = DataDescriber()
    options = {
        "attribute_to_datatype": ATTRIBUTE_DATATYPES,
        "attribute_to_is_categorical": ATTRIBUTE_IS_CATEGORICAL,
        "attribute_to_is_candidate_key": dict(ATTRIBUTE_IS_CANDIDATE_KEY),
        "seed": parameters.seed,
    }
    with tempfile.TemporaryDirectory() as folder, _quiet(parameters), _pool_workers_end_quietly():
        # The describers read a CSV file, not a DataFrame; the column order is fixed here.
        csv_path = Path(folder) / "training.csv"
        training[DEIDENTIFIED_COLUMNS].to_csv(csv_path, index=False)
        if parameters.mode == "random":
            describer.describe_dataset_in_random_mode(str(csv_path), **options)
        elif parameters.mode == "independent":
            describer.describe_dataset_in_independent_attribute_mode(
                str(csv_path), epsilon=parameters.epsilon, **options
            )
        else:
            describer.describe_dataset_in_correlated_attribute_mode(
                str(csv_path), k=parameters.degree, epsilon=parameters.epsilon, **options
            )
    description = _with_plain_integer_keys(describer.data_description)
    # Round-trip through JSON so the dict holds exactly what the saved file will.
    return json.loads(json.dumps(description))


def generate(
    description: dict[str, Any], rows: int, parameters: SynthesisParameters
) -> pd.DataFrame:
    """`rows` synthetic records from a description, with the de-identified columns and dtypes."""
    if rows < 1:
        raise SynthesisError(f"{parameters}: rows to synthesise must be at least 1, got {rows}")
    if parameters.uses_fast_engine:
        with _fast_engine_errors(parameters):
            return privbayes.generate_correlated(description, rows, parameters.seed)
    generator = DataGenerator()
    with tempfile.TemporaryDirectory() as folder, _quiet(parameters):
        # The generators read the description from a file, not a dict.
        description_path = Path(folder) / "description.json"
        description_path.write_text(json.dumps(description))
        if parameters.mode == "random":
            low, high = RANDOM_MODE_INTEGER_RANGE
            generator.generate_dataset_in_random_mode(
                rows, str(description_path), seed=parameters.seed, minimum=low, maximum=high
            )
        elif parameters.mode == "independent":
            generator.generate_dataset_in_independent_mode(
                rows, str(description_path), seed=parameters.seed
            )
        else:
            generator.generate_dataset_in_correlated_attribute_mode(
                rows, str(description_path), seed=parameters.seed
            )
    return as_deidentified_frame(generator.synthetic_dataset)


_NUMPY_SCALAR = re.compile(r"np\.\w+\((-?\d+)\)")


def _with_plain_integer_keys(description: dict[str, Any]) -> dict[str, Any]:
    """Rewrite conditional-probability keys like "[np.int64(0), np.int64(3)]" as "[0, 3]".

    Upstream defect (DataSynthesizer issues #44/#45): with numpy 2 the describer writes numpy
    reprs into the keys and the generator `eval`s them without importing numpy, so
    correlated generation fails with "name 'np' is not defined".
    """
    conditional = description.get("conditional_probabilities")
    if not conditional:
        return description
    cleaned = {}
    for attribute, distributions in conditional.items():
        if isinstance(distributions, dict):
            distributions = {
                str(json.loads(_NUMPY_SCALAR.sub(r"\1", key))): probabilities
                for key, probabilities in distributions.items()
            }
        cleaned[attribute] = distributions
    return {**description, "conditional_probabilities": cleaned}


@contextlib.contextmanager
def _quiet(parameters: SynthesisParameters):
    """Silence DataSynthesizer's progress prints, and name the mode in any failure."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    except SynthesisError:
        raise
    except Exception as error:
        raise SynthesisError(f"DataSynthesizer failed in {parameters}: {error!r}") from error


@contextlib.contextmanager
def _fast_engine_errors(parameters: SynthesisParameters):
    """Name the mode and parameters in any failure of the fast engine."""
    try:
        yield
    except SynthesisError as error:
        raise SynthesisError(f"{parameters}: {error}") from error
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise SynthesisError(f"the fast engine failed in {parameters}: {error!r}") from error


@contextlib.contextmanager
def _pool_workers_end_quietly():
    """Give forked workers the default SIGTERM handler while the describer runs.

    The correlated describer forks a multiprocessing pool per network round and ends it with
    SIGTERM. Forked workers inherit the parent's handler; under Dagster that handler raises an
    interrupt error, so every worker would print a traceback as it is ended.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
