"""Synthetic data in every mode: one `describe` and one `generate` for all of them.

Random, independent and correlated modes run on the "fast" engine by default: DataSynthesizer's
algorithms and description format, vectorised (`histograms.py` for random and independent
mode, `privbayes.py` for correlated mode). With the `datasynthesizer` engine they run
DataSynthesizer itself; this is the one module that talks to it. It works around the
package's defects (see the notes at each workaround) without patching it, and hands the rest
of the pipeline plain DataFrames and plain JSON-ready dictionaries. AIM mode runs `aim.py` on
mbi, over the codes of the declared domain.
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import re
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from DataSynthesizer.DataDescriber import DataDescriber
from DataSynthesizer.DataGenerator import DataGenerator

from aesynth_pipeline.columns import DEIDENTIFIED_COLUMNS
from aesynth_pipeline.domain import aim, histograms, ledger, privbayes
from aesynth_pipeline.domain.attributes import (
    ATTRIBUTE_DATATYPES,
    ATTRIBUTE_IS_CANDIDATE_KEY,
    ATTRIBUTE_IS_CATEGORICAL,
    UNPUBLISHED_META,
    SynthesisError,
    as_deidentified_frame,
    require_deidentified_columns,
)
from aesynth_pipeline.domain.modes import DEFAULT_ENGINE, ENGINES, MODES, Engine, Mode
from aesynth_pipeline.domain.public_domain import (
    PublicDomain,
    codes,
    from_codes,
    with_last_values,
    with_time_binned,
    with_time_in_bins,
)

# DataSynthesizer's correlated mode spends ε/2 on its network and ε/2 on tables whose counts
# it noises for one record added or removed; for one record replaced (the relation its
# network score assumes) the tables cost twice that, 1.5 ε in all. So it is given 2/3 of
# the stated ε, and spends the stated ε.
DATASYNTHESIZER_CORRELATED_SHARE = 2 / 3


@dataclass(frozen=True)
class SynthesisParameters:
    mode: Mode
    epsilon: float
    degree: int
    seed: int
    # Who runs random, independent and correlated mode (AIM mode always runs on mbi).
    engine: Engine = DEFAULT_ENGINE
    # The values every attribute may take, declared rather than read from the data.
    domain: PublicDomain = field(kw_only=True, repr=False)
    # Used by AIM mode only: its δ, its model's size limit, and where JAX keeps the programs
    # it compiles, so that a later run in a new process need not compile them again.
    delta: float = field(default=aim.DEFAULT_DELTA, kw_only=True)
    max_model_size_mb: float = field(default=aim.DEFAULT_MAX_MODEL_SIZE_MB, kw_only=True)
    compilation_cache: str | None = field(default=None, kw_only=True, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise SynthesisError(f"the engine must be one of {list(ENGINES)}, got {self.engine!r}")

    @property
    def uses_fast_engine(self) -> bool:
        return self.mode != "aim" and self.engine == "fast"

    def __str__(self) -> str:
        if self.mode == "aim":
            return f"aim mode (epsilon {self.epsilon}, delta {self.delta}, seed {self.seed})"
        if self.mode == "random":
            described = f"random mode (seed {self.seed})"
        elif self.mode == "independent":
            described = f"independent mode (epsilon {self.epsilon}, seed {self.seed})"
        else:
            described = (
                f"correlated mode (epsilon {self.epsilon}, k {self.degree}, seed {self.seed})"
            )
        return f"{described} on the {self.engine} engine"


def mode_seed(seed: int, mode: Mode) -> int:
    """A seed for one mode, derived from the pipeline's seed, that DataSynthesizer accepts."""
    return int(np.random.SeedSequence([seed, 4, MODES.index(mode)]).generate_state(1)[0])


def describe(
    training: pd.DataFrame,
    parameters: SynthesisParameters,
    progress: aim.Progress | None = None,
) -> dict[str, Any]:
    """The description of `training` in the given mode, as a JSON-ready dict: AIM's (see
    `aim.fit_aim`; `progress` hears of each round), or DataSynthesizer's.

    Every attribute is described over its declared domain (`parameters.domain`, given to
    DataSynthesizer as its categorical domain file), Time in A&E by its bins. The result is
    what DataSynthesizer would save, except that the conditional probability keys are plain
    integer lists, so any DataGenerator can read the file, and that the row count is left out.
    """
    if parameters.mode == "aim":
        return _describe_aim(training, parameters, progress)
    if parameters.uses_fast_engine:
        with _engine_errors(parameters, "the fast engine"):
            if parameters.mode == "random":
                return histograms.describe_random(parameters.domain)
            if parameters.mode == "independent":
                return histograms.describe_independent(
                    training, parameters.epsilon, parameters.seed, domain=parameters.domain
                )
            return privbayes.describe_correlated(
                training, parameters.epsilon, parameters.degree, parameters.seed,
                domain=parameters.domain,
            )  # fmt: skip
    description = _describe_with_datasynthesizer(training, parameters)
    description["privacy_ledger"] = datasynthesizer_ledger(parameters)
    return description


def _describe_with_datasynthesizer(
    training: pd.DataFrame, parameters: SynthesisParameters
) -> dict[str, Any]:
    require_deidentified_columns(training)
    if parameters.mode == "correlated" and not 1 <= parameters.degree < len(training.columns):
        raise SynthesisError(
            f"{parameters}: k must be at least 1 and below the number of attributes "
            f"({len(training.columns)})"
        )
    describer = DataDescriber()
    with (
        tempfile.TemporaryDirectory() as folder,
        _quiet(parameters),
        _pool_workers_end_quietly(),
        _pool_workers_not_forked_from_jax(),
    ):
        # The describers read a CSV file, not a DataFrame; the column order is fixed here.
        csv_path = Path(folder) / "training.csv"
        binned = with_time_binned(training[DEIDENTIFIED_COLUMNS], parameters.domain)
        if parameters.mode == "correlated":
            # DataSynthesizer's tables span each attribute's codes up to the highest seen,
            # which would publish the highest value that occurs; one public record of every
            # attribute's last declared value makes them span the declared domain.
            binned = with_last_values(binned, parameters.domain)
        binned.to_csv(csv_path, index=False)
        domain_path = Path(folder) / "domain.json"
        domain_path.write_text(json.dumps(parameters.domain.as_json()))
        options = {
            "attribute_to_datatype": ATTRIBUTE_DATATYPES,
            "attribute_to_is_categorical": ATTRIBUTE_IS_CATEGORICAL,
            "attribute_to_is_candidate_key": dict(ATTRIBUTE_IS_CANDIDATE_KEY),
            "categorical_attribute_domain_file": str(domain_path),
            "seed": parameters.seed,
        }
        if parameters.mode == "random":
            describer.describe_dataset_in_random_mode(str(csv_path), **options)
        elif parameters.mode == "independent":
            describer.describe_dataset_in_independent_attribute_mode(
                str(csv_path), epsilon=parameters.epsilon, **options
            )
        else:
            describer.describe_dataset_in_correlated_attribute_mode(
                str(csv_path),
                k=parameters.degree,
                epsilon=parameters.epsilon * DATASYNTHESIZER_CORRELATED_SHARE,
                **options,
            )
    description = _with_plain_integer_keys(describer.data_description)
    for name in UNPUBLISHED_META:
        description["meta"].pop(name, None)
    if parameters.mode == "correlated" and parameters.epsilon > 0:
        # Its 1-way histograms cost a full ε more, and no generator reads them once the
        # tables span the domain: they are replaced by the model's own, at no cost.
        privbayes.replace_histograms_with_the_models(
            description, np.random.default_rng(np.random.SeedSequence([parameters.seed, 2]))
        )
    # Round-trip through JSON so the dict holds exactly what the saved file will.
    return json.loads(json.dumps(description))


def generate(
    description: dict[str, Any], rows: int, parameters: SynthesisParameters
) -> pd.DataFrame:
    """`rows` synthetic records from a description, with the de-identified columns and dtypes."""
    if rows < 1:
        raise SynthesisError(f"{parameters}: rows to synthesise must be at least 1, got {rows}")
    if parameters.mode == "aim":
        with _engine_errors(parameters, "AIM"):
            generated = from_codes(
                aim.generate_aim(description, rows, parameters.seed), parameters.domain
            )
        minutes_rng = np.random.default_rng(np.random.SeedSequence([parameters.seed, 1]))
        return as_deidentified_frame(with_time_in_bins(generated, parameters.domain, minutes_rng))
    if parameters.uses_fast_engine:
        with _engine_errors(parameters, "the fast engine"):
            if parameters.mode != "correlated":
                return histograms.generate_independent(
                    description, rows, parameters.seed, domain=parameters.domain
                )
            return privbayes.generate_correlated(
                description, rows, parameters.seed, domain=parameters.domain
            )
    generator = DataGenerator()
    with tempfile.TemporaryDirectory() as folder, _quiet(parameters):
        # The generators read the description from a file, not a dict.
        description_path = Path(folder) / "description.json"
        description_path.write_text(json.dumps(description))
        if parameters.mode == "random":
            # Every attribute is categorical: each value is drawn uniformly from its domain.
            generator.generate_dataset_in_random_mode(
                rows, str(description_path), seed=parameters.seed
            )
        elif parameters.mode == "independent":
            generator.generate_dataset_in_independent_mode(
                rows, str(description_path), seed=parameters.seed
            )
        else:
            generator.generate_dataset_in_correlated_attribute_mode(
                rows, str(description_path), seed=parameters.seed
            )
    # A stay within its bin is drawn here, by post-processing: DataSynthesizer draws the bin.
    minutes_rng = np.random.default_rng(np.random.SeedSequence([parameters.seed, 1]))
    return as_deidentified_frame(
        with_time_in_bins(generator.synthetic_dataset, parameters.domain, minutes_rng)
    )


def datasynthesizer_ledger(parameters: SynthesisParameters) -> dict[str, Any]:
    """What DataSynthesizer spends in a mode, from the noise it adds (its `inject_laplace_noise`
    and `laplace_noise_parameter`), for one record replaced, the row count being public: the
    relation its noise is calibrated to. Its Laplace noise on a histogram's shares has scale
    (2/n)/(ε/d), which is scale 2d/ε on its counts, whose L1 sensitivity is 2."""
    attributes = len(DEIDENTIFIED_COLUMNS)
    public = [
        ledger.DECLARED_DOMAIN,
        "the number of training records: DataSynthesizer calibrates its noise to it",
    ]
    if parameters.mode == "random":
        # Random mode's description is the declared domain: it reads nothing of the data.
        return ledger.ledger([], ledger.REPLACE_ONE, public[:1])
    if parameters.epsilon == 0:
        return ledger.ledger([], ledger.REPLACE_ONE, public, noiseless=True)
    if parameters.mode == "independent":
        charges = [
            ledger.Charge(
                "1-way histograms, one per attribute",
                "laplace",
                releases=attributes,
                sensitivity=2.0,
                scale=2 * attributes / parameters.epsilon,
            )
        ]
        return ledger.ledger(charges, ledger.REPLACE_ONE, public)
    given = parameters.epsilon * DATASYNTHESIZER_CORRELATED_SHARE
    degree = parameters.degree
    charges = [
        ledger.Charge(
            "Bayesian network: each attribute's parents, chosen after a root drawn uniformly "
            "(score: mutual information, its sensitivity by PrivBayes's Lemma 1 at the row "
            "count)",
            "exponential",
            releases=attributes - 1,
            sensitivity=None,
            epsilon_each=given / 2 / (attributes - 1),
        ),
        ledger.Charge(
            "conditional tables: counts of each child with its parents",
            "laplace",
            releases=attributes - degree,
            sensitivity=2.0,
            scale=privbayes.table_noise_scale(attributes, degree + 1, given / 2),
        ),
    ]
    return ledger.ledger(charges, ledger.REPLACE_ONE, public)


def aim_ledger(description: dict[str, Any], delta: float) -> dict[str, Any]:
    """AIM's ledger from its own round-by-round record: each marginal measured with Gaussian
    noise of L2 sensitivity 1 (one record added or removed changes one count by 1), each
    round's choice by the exponential mechanism."""
    charges = []
    for entry in description["ledger"]:
        clique = " × ".join(entry["clique"])
        if entry["epsilon"] is not None:
            charges.append(
                ledger.Charge(
                    f"round {entry['round']}: the choice of {clique}",
                    "exponential (zCDP)",
                    releases=1,
                    sensitivity=entry["selection_sensitivity"],
                    epsilon_each=entry["epsilon"],
                )
            )
        charges.append(
            ledger.Charge(
                f"round {entry['round']}: the marginal {clique}",
                "gaussian",
                releases=1,
                sensitivity=1.0,
                scale=entry["sigma"],
            )
        )
    return ledger.ledger(charges, ledger.ADD_REMOVE, [ledger.DECLARED_DOMAIN], delta=delta)


def _describe_aim(
    training: pd.DataFrame, parameters: SynthesisParameters, progress: aim.Progress | None
) -> dict[str, Any]:
    require_deidentified_columns(training)
    with _engine_errors(parameters, "AIM"):
        rho = aim.zcdp_rho(parameters.epsilon, parameters.delta)
        description = aim.fit_aim(
            codes(training, parameters.domain),
            parameters.domain.sizes,
            DEIDENTIFIED_COLUMNS,
            rho,
            parameters.seed,
            max_model_size_mb=parameters.max_model_size_mb,
            progress=progress,
            cache_dir=parameters.compilation_cache,
        )
    description["privacy"].update(epsilon=parameters.epsilon, delta=parameters.delta)
    description["privacy_ledger"] = aim_ledger(description, parameters.delta)
    return description


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
def _engine_errors(parameters: SynthesisParameters, engine: str):
    """Name the mode and parameters in any failure of one of our own engines."""
    try:
        yield
    except SynthesisError as error:
        raise SynthesisError(f"{parameters}: {error}") from error
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise SynthesisError(f"{engine} failed in {parameters}: {error!r}") from error


@contextlib.contextmanager
def _pool_workers_not_forked_from_jax():
    """Start the correlated describer's pool workers fresh ("spawn") once JAX has run in
    this process (AIM mode, in a run that executes every step in one process).

    JAX keeps a pool of threads; a process forked from a multithreaded one may deadlock on a
    lock one of them held. (Not a fork server: it would outlive the call, and the processes
    later forked from it would inherit the environment of this moment.)
    """
    if "jax" not in sys.modules:
        yield
        return
    previous = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method("spawn", force=True)
    try:
        yield
    finally:
        multiprocessing.set_start_method(previous, force=True)


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
