"""PrivBayes as DataSynthesizer's correlated attribute mode does it, on integer codes.

DataSynthesizer 0.1.13 describes the data, learns the network and builds the noisy
conditional tables on a DataFrame of strings, scores each candidate parent set in a process
pool that receives a pickled copy of the whole frame, and generates by filtering the whole
frame once per parent combination. This module runs the same algorithm on one integer array
of bin indices: joint counts by `numpy.bincount` over combined codes, every candidate of a
round scored in this process, and each child sampled for all rows of a parent combination
at once.

It reads and writes DataSynthesizer's description format unchanged, so either engine's
generator accepts either engine's description. The steps, and the DataSynthesizer function
each one mirrors:

- binning and 1-way distributions: `AbstractAttribute.infer_distribution` over the declared
  domain (DataSynthesizer's categorical domain file; Time in A&E by its bins), sorted, with
  the Laplace noise of `inject_laplace_noise` at the full ε, which DataSynthesizer applies in
  correlated mode too;
- the network: `PrivBayes.greedy_bayes` with `exponential_mechanism` at ε/2;
- the conditional tables: `construct_noisy_conditional_distributions` at ε/2.

**Accounting.** With `accounting="datasynthesizer"` the engine is DataSynthesizer's algorithm
exactly, noise included, and so is its privacy accounting: the 1-way histograms cost a further
full ε although no generator reads them, the network's score is calibrated to a row count
known exactly, and the tables span the codes seen. That variant is kept to prove the vectorised
steps equal DataSynthesizer's (and to measure the difference); the pipeline runs the default,
`accounting="add_remove"`, which spends exactly ε, under the neighbouring relation "add or
remove one attendance", on everything its description holds:

- the network: at each of the d − 1 choices after the root (which is drawn uniformly, at no
  cost), the exponential mechanism at ε/(2(d − 1)) on the score n·I(X; Π), the mutual
  information of the child X and its parents Π weighted by the row count. Its sensitivity to
  one record added or removed is at most 1 + ln N for datasets of at most N records: with
  f(c) = c ln c, n·I = Σ f(c_xπ) + f(n) − Σ f(c_x) − Σ f(c_π), and adding a record at (x, π)
  changes it by g(c_xπ) − g(c_x) + g(n) − g(c_π), where g(c) = f(c + 1) − f(c) rises from
  g(0) = 0 to at most ln(c + 1) + 1; since c_xπ ≤ c_x and c_π ≤ n, the first pair is ≤ 0 and
  the second ≥ 0, so the change lies within ±g(n). N is `MAX_TRAINING_ROWS`, declared, so the
  score needs no row count (DataSynthesizer's needs the exact one);
- the conditional tables: d − k tables of counts (the first of the root and the first k
  children, then one per later child), each changed in one cell by 1 when a record is added or
  removed, so L1 sensitivity d − k together, with Laplace noise of scale (d − k)/(ε/2)
  on every cell, which is DataSynthesizer's own scale;
- every table spans the declared domain, not the codes seen;
- the 1-way histograms, which DataSynthesizer's format requires, are the noisy tables summed
  down to each attribute: post-processing, at no further cost.

The description's `privacy_ledger` states both costs, computed from these noise scales
(`ledger.py`).

One deliberate difference: DataSynthesizer's exponential mechanism exponentiates the raw
scores, which overflow to infinity on large data (on these data at ε = 1 and k = 2, at a
million rows); it then picks uniformly among the overflowing candidates, whatever their scores.
Here the scores are shifted by their maximum first, which gives the same probabilities whenever
DataSynthesizer's are finite.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from itertools import combinations
from typing import Any, Literal

import numpy as np
import pandas as pd

from aesynth_pipeline.columns import DEIDENTIFIED_COLUMNS
from aesynth_pipeline.domain import information, ledger
from aesynth_pipeline.domain.attributes import (
    ATTRIBUTE_DATATYPES,
    SynthesisError,
    as_deidentified_frame,
    bayesian_network,
    require_deidentified_columns,
)
from aesynth_pipeline.domain.public_domain import (
    PublicDomain,
    with_last_values,
    with_time_binned,
    with_time_in_bins,
)

# A conditional table larger than this would not fit in memory, nor its JSON on disk.
MAX_TABLE_CELLS = 2**27
# The most training records the add/remove accounting allows: its network score's
# sensitivity, 1 + ln N, is calibrated to this declared bound instead of the row count.
MAX_TRAINING_ROWS = 10**9
NETWORK_SCORE_SENSITIVITY = 1 + math.log(MAX_TRAINING_ROWS)

Accounting = Literal["add_remove", "datasynthesizer"]


def describe_correlated(
    training: pd.DataFrame,
    epsilon: float,
    degree: int,
    seed: int | Any,
    *,
    domain: PublicDomain,
    root: str | None = None,
    accounting: Accounting = "add_remove",
) -> dict[str, Any]:
    """A correlated-mode description of `training` over the declared `domain`, in
    DataSynthesizer's format, as a JSON-ready dict, without the row count, with its privacy
    ledger (see the module notes for the two `accounting`s).

    `degree` is k, the most parents an attribute may have; `epsilon` is the differential-privacy
    budget (0 = no noise). The network's root is drawn at random, as DataSynthesizer draws it,
    unless `root` names it. The same seed gives the same description.
    """
    _validate_training(training, epsilon, degree, root)
    exact = accounting == "datasynthesizer"
    frame = with_time_binned(training[DEIDENTIFIED_COLUMNS], domain)
    if exact:
        # As the DataSynthesizer adapter gives it the data (see synthesise.py).
        frame = with_last_values(frame, domain)
    marginal_rng, network_rng, table_rng = _generator(seed).spawn(3)

    attribute_description, encoded = encode_training(frame, domain)
    if exact and epsilon > 0:
        _add_marginal_noise(attribute_description, len(frame), epsilon, marginal_rng)
    if not exact and len(frame) > MAX_TRAINING_ROWS:
        raise SynthesisError(
            f"the add/remove accounting allows at most {MAX_TRAINING_ROWS:,} training rows"
        )
    sizes = None if exact else np.asarray(domain.sizes)

    root_index = None if root is None else DEIDENTIFIED_COLUMNS.index(root)
    # Half the budget on the network and half on its tables, as DataSynthesizer splits it.
    network = learn_network(
        encoded,
        degree,
        epsilon / 2,
        network_rng,
        root_index,
        score_sensitivity=None if exact else NETWORK_SCORE_SENSITIVITY,
    )
    named = [
        (DEIDENTIFIED_COLUMNS[child], [DEIDENTIFIED_COLUMNS[p] for p in parents])
        for child, parents in network
    ]
    conditionals, one_way = noisy_conditional_distributions(
        network, encoded, epsilon / 2, table_rng, sizes
    )
    if not exact:
        for attribute, counts in one_way.items():
            described = attribute_description[DEIDENTIFIED_COLUMNS[attribute]]
            described["distribution_probabilities"] = normalise(counts).tolist()
    description = {
        "meta": description_meta(),
        "attribute_description": attribute_description,
        "bayesian_network": [[child, parents] for child, parents in named],
        "conditional_probabilities": {
            DEIDENTIFIED_COLUMNS[attribute]: distributions
            for attribute, distributions in conditionals.items()
        },
    }
    if not exact:
        description["privacy_ledger"] = add_remove_ledger(epsilon, degree)
    return description


def description_meta() -> dict[str, Any]:
    """The `meta` of a description in DataSynthesizer's format: every attribute categorical,
    none a candidate key, every one in the network (DataSynthesizer lists them so in every
    mode). It holds nothing of the data: the row count is left out."""
    return {
        "num_attributes": len(DEIDENTIFIED_COLUMNS),
        "num_attributes_in_BN": len(DEIDENTIFIED_COLUMNS),
        "all_attributes": list(DEIDENTIFIED_COLUMNS),
        "candidate_keys": [],
        "non_categorical_string_attributes": [],
        "attributes_in_BN": list(DEIDENTIFIED_COLUMNS),
    }


def _generator(seed: int | np.random.Generator) -> np.random.Generator:
    """A generator from a seed; a generator given is used as it is (a test may record its
    draws)."""
    if isinstance(seed, int | np.integer):
        return np.random.default_rng(seed)
    return seed


# Records drawn from a model to estimate its 1-way histograms (standard error below 0.002).
MODEL_HISTOGRAM_RECORDS = 100_000


def replace_histograms_with_the_models(
    description: dict[str, Any], rng: np.random.Generator
) -> None:
    """Replace a correlated description's 1-way histograms by its model's own, estimated from
    records drawn from it: post-processing of the noisy tables, at no privacy cost.

    DataSynthesizer noises its histograms at a further full ε; its generators read them only
    for a parent combination without a table, and none is missing once the tables span the
    declared domain. They are set uniform first, so that no draw can read them.
    """
    attributes = description["attribute_description"]
    for info in attributes.values():
        size = len(info["distribution_bins"])
        info["distribution_probabilities"] = [1 / size] * size
    drawn = generate_encoded(description, MODEL_HISTOGRAM_RECORDS, rng)
    for name, info in attributes.items():
        counts = np.bincount(drawn[name], minlength=len(info["distribution_bins"]))
        info["distribution_probabilities"] = (counts / MODEL_HISTOGRAM_RECORDS).tolist()


def add_remove_ledger(epsilon: float, degree: int) -> dict[str, Any]:
    """What the add/remove accounting spends, from the noise it adds (see the module notes)."""
    attributes = len(DEIDENTIFIED_COLUMNS)
    public = [
        ledger.DECLARED_DOMAIN,
        f"at most {MAX_TRAINING_ROWS:,} training records (the network score's sensitivity "
        "is calibrated to this bound, not to the row count)",
    ]
    if epsilon == 0:
        return ledger.ledger([], ledger.ADD_REMOVE, public, noiseless=True)
    tables = attributes - degree
    charges = [
        ledger.Charge(
            "Bayesian network: each attribute's parents, chosen after a root drawn uniformly",
            "exponential",
            releases=attributes - 1,
            sensitivity=NETWORK_SCORE_SENSITIVITY,
            epsilon_each=epsilon / 2 / (attributes - 1),
        ),
        ledger.Charge(
            "conditional tables: counts of each child with its parents (1-way histograms "
            "summed from them)",
            "laplace",
            releases=tables,
            sensitivity=1.0,
            scale=table_noise_scale(attributes, degree + 1, epsilon / 2),
        ),
    ]
    return ledger.ledger(charges, ledger.ADD_REMOVE, public)


def generate_correlated(
    description: dict[str, Any], rows: int, seed: int, *, domain: PublicDomain
) -> pd.DataFrame:
    """`rows` synthetic records from a correlated-mode description written by either engine,
    with the de-identified columns and dtypes, each stay drawn within its bin of `domain`.
    The same seed gives the same records."""
    if rows < 1:
        raise SynthesisError(f"rows to synthesise must be at least 1, got {rows}")
    code_rng, value_rng = np.random.default_rng(seed).spawn(2)
    codes = generate_encoded(description, rows, code_rng)
    attributes = description["attribute_description"]
    values = {
        column: values_from_bins(attributes[column], codes[column])
        for column in DEIDENTIFIED_COLUMNS
    }
    return as_deidentified_frame(with_time_in_bins(pd.DataFrame(values), domain, value_rng))


def generate_encoded(
    description: dict[str, Any], rows: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Bin indices for `rows` records, as DataSynthesizer's `generate_encoded_dataset`: the
    root from its distribution, then each child from its table row for the parents' values."""
    _validate_description(description)
    network = bayesian_network(description)
    attributes = description["attribute_description"]
    conditional = description["conditional_probabilities"]
    sizes = {name: len(info["distribution_bins"]) for name, info in attributes.items()}

    root = network[0][1][0]
    root_table = _pad(np.asarray([conditional[root]], dtype=float), sizes[root], root)
    codes = {root: sample_by_group(root_table, np.zeros(rows, dtype=np.int64), rng)}
    for child, parents in network:
        table = _conditional_table(
            conditional[child], [sizes[parent] for parent in parents], attributes[child], child
        )
        parent_code = _combined_code(
            [codes[parent] for parent in parents], [sizes[parent] for parent in parents]
        )
        codes[child] = sample_by_group(table, parent_code, rng)
    return codes


# --- Describing ---------------------------------------------------------------------------


def _validate_training(
    training: pd.DataFrame, epsilon: float, degree: int, root: str | None
) -> None:
    require_deidentified_columns(training)
    attributes = len(DEIDENTIFIED_COLUMNS)
    if not 1 <= degree < attributes:
        raise SynthesisError(
            f"k must be at least 1 and below the number of attributes ({attributes}), got {degree}"
        )
    if not (math.isfinite(epsilon) and epsilon >= 0):
        raise SynthesisError(f"epsilon must be 0 (no noise) or positive, got {epsilon}")
    if len(training) < 2:
        # The network's sensitivity divides by (rows - 1).
        raise SynthesisError(f"the training data needs at least 2 rows, got {len(training)}")
    if root is not None and root not in DEIDENTIFIED_COLUMNS:
        raise SynthesisError(f"the root {root!r} is not one of {DEIDENTIFIED_COLUMNS}")


def encode_training(
    training: pd.DataFrame, domain: PublicDomain
) -> tuple[dict[str, dict[str, Any]], np.ndarray]:
    """Each attribute's description before noise, and the (rows × attributes) array of bin
    indices that DataSynthesizer's `encode_dataset_into_binning_indices` would compute, with
    the attributes in `DEIDENTIFIED_COLUMNS` order. `training` holds Time in A&E by the left
    edges of its bins (`public_domain.with_time_binned`)."""
    attribute_description, codes = {}, []
    for column in DEIDENTIFIED_COLUMNS:
        described, column_codes = describe_attribute(training[column], domain.values(column))
        attribute_description[column] = described
        codes.append(column_codes)
    # Column-major, because every step reads whole attributes.
    return attribute_description, np.asfortranarray(np.column_stack(codes))


def describe_attribute(values: pd.Series, declared: tuple) -> tuple[dict[str, Any], np.ndarray]:
    """One attribute's DataSynthesizer description (before noise) over its declared values,
    and its bin index per row, as DataSynthesizer describes a categorical attribute given
    its domain."""
    name = str(values.name)
    datatype = ATTRIBUTE_DATATYPES[name]
    codes = pd.Index(declared).get_indexer(values)
    outside = int((codes < 0).sum())
    if outside:
        raise SynthesisError(
            f"{name}: {outside} record(s) hold a value outside its declared domain"
        )
    counts = np.bincount(codes, minlength=len(declared))
    if datatype == "Integer":
        low, high = int(min(declared)), int(max(declared))
    else:
        # A string attribute's min and max are the lengths of its shortest and longest value.
        lengths = [len(value) for value in declared]
        low, high = min(lengths), max(lengths)
    description = {
        "name": name,
        "data_type": datatype,
        "is_categorical": True,
        "is_candidate_key": False,
        "min": low,
        "max": high,
        "missing_rate": 0.0,
        "distribution_bins": [int(v) if datatype == "Integer" else str(v) for v in declared],
        "distribution_probabilities": normalise(counts.astype(float)).tolist(),
    }
    return description, codes.astype(np.int64)


def _add_marginal_noise(
    attribute_description: dict[str, dict[str, Any]],
    rows: int,
    epsilon: float,
    rng: np.random.Generator,
) -> None:
    """Laplace noise on each 1-way distribution, as DataSynthesizer's describer adds it.

    These distributions are what a generator falls back on for a parent combination without
    a table.
    """
    scale = marginal_noise_scale(rows, len(attribute_description), epsilon)
    for described in attribute_description.values():
        probabilities = np.asarray(described["distribution_probabilities"])
        noisy = probabilities + rng.laplace(0.0, scale, size=probabilities.size)
        described["distribution_probabilities"] = normalise(noisy).tolist()


def marginal_noise_scale(rows: int, attributes: int, epsilon: float) -> float:
    """The Laplace scale on a 1-way distribution: sensitivity 2/rows, and ε shared equally by
    the attributes."""
    return (2 / rows) / (epsilon / attributes)


def table_noise_scale(attributes: int, table_attributes: int, epsilon: float) -> float:
    """The Laplace scale on the counts of a table of a child and its k parents (or of the
    first k + 1 attributes): (attributes - k) / ε, DataSynthesizer's `laplace_noise_parameter`."""
    return (attributes - (table_attributes - 1)) / epsilon


def learn_network(
    codes: np.ndarray,
    degree: int,
    epsilon: float,
    rng: np.random.Generator,
    root: int | None = None,
    score_sensitivity: float | None = None,
) -> list[tuple[int, list[int]]]:
    """The greedy Bayesian network of DataSynthesizer's `greedy_bayes`, on column indices.

    Each round scores every candidate of `round_candidates` by mutual information. With ε = 0
    the best candidate joins (the first on a tie); otherwise the exponential mechanism picks
    one, at ε/(attributes − 1) per round: on n·I with `score_sensitivity` when it is given
    (the add/remove accounting), else as DataSynthesizer does.
    """
    rows, attributes = codes.shape
    is_binary = binary_attributes(codes)
    if root is None:
        root = int(rng.integers(attributes))
    placed, remaining = [root], [j for j in range(attributes) if j != root]
    network: list[tuple[int, list[int]]] = []
    # A candidate's score does not change between rounds; compute each one once.
    known: dict[tuple[int, frozenset[int]], float] = {}
    while remaining:
        candidates = round_candidates(placed, remaining, degree)
        information = candidate_information(codes, candidates, known)
        if epsilon:
            if score_sensitivity is not None:
                probabilities = weighted_information_mechanism(
                    information, rows, epsilon / (attributes - 1), score_sensitivity
                )
            else:
                probabilities = exponential_mechanism(
                    information, candidates, is_binary, rows, attributes, epsilon
                )
            chosen = int(rng.choice(len(candidates), p=probabilities))
        else:
            chosen = int(np.argmax(information))
        child, parents = candidates[chosen]
        network.append((child, parents))
        placed.append(child)
        remaining.remove(child)
    return network


def binary_attributes(codes: np.ndarray) -> list[bool]:
    """Whether each attribute takes at most two values, which lowers its sensitivity."""
    return [np.count_nonzero(np.bincount(codes[:, j])) <= 2 for j in range(codes.shape[1])]


def round_candidates(
    placed: list[int], remaining: list[int], degree: int
) -> list[tuple[int, list[int]]]:
    """Every (child, parents) pair one round of the greedy search scores, in DataSynthesizer's
    order: each remaining child with `min(k, placed)` parents among the placed attributes."""
    parent_count = min(len(placed), degree)
    return [
        (child, [*others, placed[split]])
        for child in remaining
        for split in range(len(placed) - parent_count + 1)
        for others in combinations(placed[split + 1 :], parent_count - 1)
    ]


def candidate_information(
    codes: np.ndarray,
    candidates: Sequence[tuple[int, list[int]]],
    known: dict[tuple[int, frozenset[int]], float] | None = None,
) -> np.ndarray:
    """Mutual information between each candidate's child and its parents taken jointly.

    `known` keeps the scores between rounds of the search, in which the same candidates recur.
    """
    known = {} if known is None else known
    sizes = codes.max(axis=0) + 1
    for child, parents in candidates:
        key = (child, frozenset(parents))
        if key not in known:
            parent_code = _combined_code([codes[:, p] for p in parents], sizes[parents])
            known[key] = mutual_information(
                codes[:, child], sizes[child], parent_code, math.prod(sizes[parents])
            )
    return np.array([known[child, frozenset(parents)] for child, parents in candidates])


def mutual_information(
    child: np.ndarray, child_size: int, parents: np.ndarray, parents_size: int
) -> float:
    """Mutual information (natural log) of two code arrays, from joint counts of the combined
    codes."""
    joint = np.bincount(child * parents_size + parents, minlength=child_size * parents_size)
    return information.mutual_information(joint.reshape(child_size, parents_size))


def sensitivity(rows: int, child_is_binary: bool, parents_are_one_binary: bool) -> float:
    """Sensitivity of mutual information to one record (PrivBayes Lemma 1), as DataSynthesizer
    computes it: smaller when the child, or the single parent, is binary."""
    if child_is_binary or parents_are_one_binary:
        return math.log(rows) / rows + (rows - 1) / rows * math.log(rows / (rows - 1))
    return (2 / rows) * math.log((rows + 1) / 2) + (1 - 1 / rows) * math.log(1 + 2 / (rows - 1))


def exponential_mechanism(
    information: np.ndarray,
    candidates: Sequence[tuple[int, list[int]]],
    is_binary: Sequence[bool],
    rows: int,
    attributes: int,
    epsilon: float,
) -> np.ndarray:
    """Selection probabilities ∝ exp(MI / (2Δ)), Δ = (attributes - 1) × sensitivity / ε."""
    deltas = np.array(
        [
            (attributes - 1)
            * sensitivity(rows, is_binary[child], len(parents) == 1 and is_binary[parents[0]])
            / epsilon
            for child, parents in candidates
        ]
    )
    scores = information / (2 * deltas)
    # Shifted by the maximum so that large data cannot overflow exp (see the module notes).
    weights = np.exp(scores - scores.max())
    return weights / weights.sum()


def weighted_information_mechanism(
    information: np.ndarray, rows: int, epsilon: float, sensitivity: float
) -> np.ndarray:
    """Selection probabilities of the exponential mechanism at `epsilon` on the score
    rows × mutual information, whose sensitivity is `sensitivity`: ∝ exp(ε·n·I / (2Δ))."""
    scores = epsilon * rows * information / (2 * sensitivity)
    weights = np.exp(scores - scores.max())
    return weights / weights.sum()


def noisy_conditional_distributions(
    network: list[tuple[int, list[int]]],
    codes: np.ndarray,
    epsilon: float,
    rng: np.random.Generator,
    sizes: np.ndarray | None = None,
) -> tuple[dict[int, list[float] | dict[str, list[float]]], dict[int, np.ndarray]]:
    """The root's distribution and each child's distribution per parent combination, from
    Laplace-noised counts, as DataSynthesizer's `construct_noisy_conditional_distributions`.

    The root and the first k children share one noisy table of their k + 1 attributes, from
    which their distributions are summed; every later child gets its own noisy table of itself
    and its parents. Keys are parent values as integer lists ("[0, 3]"), every combination of
    the parents' codes in order, as DataSynthesizer writes them. The tables span `sizes`
    codes of each attribute (DataSynthesizer's: those up to the highest seen).

    Also each attribute's noisy 1-way counts, summed from the one noisy table that holds it
    as a child (or from the first table).
    """
    sizes = codes.max(axis=0) + 1 if sizes is None else np.asarray(sizes)
    degree = len(network[-1][1])
    root = network[0][1][0]
    first = [root, *(child for child, _ in network[:degree])]
    first_counts = noisy_counts(codes, first, sizes, epsilon, rng)

    one_way = {
        attribute: first_counts.sum(axis=tuple(a for a in range(len(first)) if a != axis))
        for axis, attribute in enumerate(first)
    }
    distributions: dict[int, list[float] | dict[str, list[float]]] = {
        root: normalise(one_way[root]).tolist()
    }
    for position, (child, parents) in enumerate(network):
        order = [*parents, child]
        if position < degree:
            # Sum the shared table down to this child and its parents, in that axis order.
            kept = [first.index(attribute) for attribute in order]
            dropped = tuple(axis for axis in range(len(first)) if axis not in kept)
            summed = first_counts.sum(axis=dropped)
            remaining = sorted(kept)
            counts = summed.transpose([remaining.index(axis) for axis in kept])
        else:
            counts = noisy_counts(codes, order, sizes, epsilon, rng)
            one_way[child] = counts.reshape(-1, sizes[child]).sum(axis=0)
        table = normalise(counts.reshape(-1, sizes[child]))
        keys = (str(list(values)) for values in np.ndindex(*sizes[parents]))
        distributions[child] = dict(zip(keys, table.tolist(), strict=True))
    return distributions, one_way


def noisy_counts(
    codes: np.ndarray,
    attributes: list[int],
    sizes: np.ndarray,
    epsilon: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Counts of every combination of the attributes' codes (an array with one axis per
    attribute), with Laplace noise of `table_noise_scale` and negatives set to 0."""
    shape = tuple(int(size) for size in sizes[attributes])
    combined = _combined_code([codes[:, a] for a in attributes], sizes[attributes])
    counts = np.bincount(combined, minlength=math.prod(shape)).astype(float)
    if epsilon:
        scale = table_noise_scale(codes.shape[1], len(attributes), epsilon)
        counts = np.clip(counts + rng.laplace(0.0, scale, size=counts.size), 0.0, None)
    return counts.reshape(shape)


def _combined_code(columns: Sequence[np.ndarray], sizes: Sequence[int]) -> np.ndarray:
    """One integer per row for a combination of codes, the first column most significant
    (the order of DataSynthesizer's keys)."""
    cells = math.prod(int(size) for size in sizes)
    if cells > MAX_TABLE_CELLS:
        raise SynthesisError(
            f"{cells:,} combinations of attribute values are too many for a table; lower k"
        )
    combined = np.zeros(len(columns[0]), dtype=np.int64)
    for column, size in zip(columns, sizes, strict=True):
        combined = combined * int(size) + column
    return combined


def normalise(counts: np.ndarray) -> np.ndarray:
    """Rows of non-negative weights as probabilities; an all-zero row becomes uniform, as
    DataSynthesizer's `normalize_given_distribution` does."""
    weights = np.clip(counts, 0.0, None)
    totals = weights.sum(axis=-1, keepdims=True)
    uniform = np.full_like(weights, 1 / weights.shape[-1])
    return np.where(totals > 0, weights / np.where(totals > 0, totals, 1.0), uniform)


# --- Generating ---------------------------------------------------------------------------


def _validate_description(description: dict[str, Any]) -> None:
    for field in ("attribute_description", "bayesian_network", "conditional_probabilities"):
        if field not in description:
            raise SynthesisError(f"the description lacks {field!r}: is it from correlated mode?")
    attributes = description["attribute_description"]
    network = bayesian_network(description)
    if not network:
        raise SynthesisError("the description's Bayesian network is empty")
    in_network = {network[0][1][0], *(child for child, _ in network)}
    missing = [column for column in DEIDENTIFIED_COLUMNS if column not in in_network]
    if missing:
        raise SynthesisError(f"the description's network lacks attribute(s) {missing}")
    for column in DEIDENTIFIED_COLUMNS:
        info = attributes.get(column)
        if info is None:
            raise SynthesisError(f"the description has no attribute description for {column!r}")
        if not info["is_categorical"]:
            raise SynthesisError(
                f"{column}: every attribute must be a category over its declared domain"
            )
        if column not in description["conditional_probabilities"]:
            raise SynthesisError(f"the description has no conditional probabilities for {column}")


def _pad(table: np.ndarray, size: int, attribute: str) -> np.ndarray:
    """Distributions over an attribute's first codes, widened to all its bins with zeros.

    DataSynthesizer's tables span the codes seen in training, which can be fewer than the bins.
    """
    if table.shape[1] > size:
        raise SynthesisError(
            f"{attribute}: a distribution has {table.shape[1]} entries for {size} bins"
        )
    return np.pad(table, ((0, 0), (0, size - table.shape[1])))


def _conditional_table(
    distributions: dict[str, list[float]],
    parent_sizes: list[int],
    child_info: dict[str, Any],
    child: str,
) -> np.ndarray:
    """A (parent combinations × child bins) table of probabilities from a description.

    A combination without an entry uses the child's 1-way distribution, as DataSynthesizer's
    generator does.
    """
    size = len(child_info["distribution_bins"])
    one_way = np.asarray([child_info["distribution_probabilities"]], dtype=float)
    fallback = _pad(one_way, size, child)
    table = np.repeat(fallback, math.prod(parent_sizes), axis=0)
    if not distributions:
        return table
    try:
        keys = np.asarray(json.loads("[" + ", ".join(distributions) + "]"), dtype=np.int64)
    except (json.JSONDecodeError, ValueError):
        raise SynthesisError(
            f"{child}: conditional probability keys must be lists of integers like '[0, 3]'"
        ) from None
    if keys.ndim != 2 or keys.shape[1] != len(parent_sizes):
        raise SynthesisError(f"{child}: keys do not match its {len(parent_sizes)} parent(s)")
    if (keys < 0).any() or (keys >= np.asarray(parent_sizes)).any():
        raise SynthesisError(f"{child}: a key names a parent value outside its bins")
    width = max(len(distribution) for distribution in distributions.values())
    values = np.zeros((len(distributions), width))
    for row, distribution in enumerate(distributions.values()):
        values[row, : len(distribution)] = distribution
    table[np.ravel_multi_index(keys.T, parent_sizes)] = _pad(values, size, child)
    return table


def sample_by_group(table: np.ndarray, group: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each row, a code drawn from the table's row `group[row]`.

    Rows are sorted by group, and each group's rows are drawn at once by inverse CDF from one
    uniform number per row: the loop runs over parent combinations, not over rows.
    """
    cumulative = np.cumsum(table, axis=1)
    uniform = rng.random(len(group))
    # A stable sort of 16-bit keys is a radix sort, several times faster than on 64-bit keys.
    keys = group.astype(np.uint16) if len(table) <= 2**16 else group
    order = np.argsort(keys, kind="stable")
    sorted_groups = group[order]
    starts = np.flatnonzero(np.diff(sorted_groups, prepend=-1))
    ends = np.append(starts[1:], len(group))
    sampled = np.empty(len(group), dtype=np.int64)
    for start, end in zip(starts, ends, strict=True):
        rows = order[start:end]
        row_cdf = cumulative[sorted_groups[start]]
        # Scaling by the total keeps a row that does not sum exactly to 1 unbiased.
        sampled[rows] = np.searchsorted(row_cdf[:-1], uniform[rows] * row_cdf[-1], side="right")
    return sampled


def values_from_bins(info: dict[str, Any], codes: np.ndarray) -> np.ndarray:
    """Values for bin indices, as DataSynthesizer's `sample_values_from_binning_indices` gives
    them for a categorical attribute: the bin's value itself (for Time in A&E, its left edge)."""
    # An object array hands out the same category objects instead of new strings.
    return np.asarray(info["distribution_bins"], dtype=object)[codes]
