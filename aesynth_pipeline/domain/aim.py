"""AIM, the adaptive and iterative mechanism for differentially private synthetic data, on
integer codes.

From McKenna, Mullins, Sheldon and Miklau, "AIM: An Adaptive and Iterative Mechanism for
Differentially Private Synthetic Data" (VLDB 2022), written here from the paper's algorithm
on the `mbi` package (private-pgm 2.0), which estimates a graphical model from noisy
marginals. The privacy unit is one record added or removed; the budget is ρ-zCDP.

The workload is every 2-way marginal. Its downward closure (every 1-way and 2-way marginal)
are the candidates, each weighted by how much of the workload it covers:
w_r = Σ_{s in workload} |r ∩ s|. AIM then

1. measures every 1-way marginal with Gaussian noise σ₀, where each of T = 16·d budget
   rounds would get ρ/T, split α = 0.9 to measuring (1/(2σ₀²) = αρ/T) and 0.1 to selecting
   (ε₀²/8 = (1−α)ρ/T), and estimates a first model p̂₀ from them;
2. each round t, selects one candidate r with the exponential mechanism at ε_t, quality
   w_r·(‖M_r(D) − M_r(p̂)‖₁ − √(2/π)·σ_t·n_r) (the error the model makes on r, less the
   error measuring r would itself bring; n_r cells), sensitivity max w_r, among the
   candidates that keep the model's junction tree under (ρ_used/ρ)·max_model_size; measures
   it with noise σ_t; re-estimates the model, warm-started from the last one;
3. when the new estimate hardly moved on r (‖M_r(p̂_t) − M_r(p̂_{t−1})‖₁ ≤ √(2/π)·σ_t·n_r),
   halves σ and doubles ε, so later rounds measure more precisely;
4. when what is left cannot pay for two more rounds, spends all of it on a last round.

Every draw of noise, selection and sampling comes from `numpy.random.default_rng(seed)`;
`mbi`'s estimation is deterministic. The seed of a fit is as secret as the data: with it, the
noise could be drawn again and taken off the published measurements. It is not stored in the
description.

The description `fit_aim` returns (plain JSON types only):

    {"mechanism": "AIM",
     "attributes": [{"name": str, "size": int}, ...],             # in column order
     "privacy": {"rho": ρ, "rho_spent": Σ ledger, "unit": "one record added or removed"},
     "parameters": {"alpha", "budget_rounds", "max_model_size_mb", "max_rounds",
                    "round_iterations", "final_iterations", "workload"},
     "ledger": [{"round": 0 for the 1-way measurements, then 1, 2, ...,
                 "clique": [names], "sigma": σ, "rho_measurement": 1/(2σ²),
                 "rho_selection": ε²/8 (0 in round 0), "epsilon": ε or null,
                 "selection_sensitivity": the quality's sensitivity, max w_r, or null,
                 "candidates": how many candidates the size limit let through, or null,
                 "annealed": whether σ was halved after this round}, ...],
     "measurements": [{"clique": [names], "sigma": σ, "noisy_marginal": [float, ...]}, ...],
     "model": {"cliques": [[names], ...], "tree_edges": [[i, j], ...],
               "estimated_records": float, "marginals": [[float, ...], ...]}}

Marginals are flattened in C order over the clique's attributes in column order; the ledger
and the measurements are in the same order, one entry per measurement.

Running it: JAX compiles mbi's estimation once for each new set of measured cliques (a few
seconds each on one core: most of a fit's time); measuring a clique again reuses the program.
With `cache_dir` a later fit in a new process loads them from disk instead. JAX runs on the
CPU with a thread pool as large as the machine; to hold a fit to one core, set the environment
variable XLA_FLAGS to `SINGLE_THREAD_XLA_FLAGS` before JAX first runs in the process.
"""

from __future__ import annotations

import itertools
import math
import os
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np
from scipy.special import logsumexp

MECHANISM = "AIM"
# The paper's settings: each of 16 budget rounds per attribute gets ρ/T, α of it to measuring.
ALPHA = 0.9
ROUNDS_PER_ATTRIBUTE = 16
DEFAULT_MAX_MODEL_SIZE_MB = 80.0
DEFAULT_DELTA = 1e-9
# Mirror-descent iterations (mbi runs them in blocks of 50): each round's estimate starts from
# the last round's, the final estimate, which generation samples from, runs longer.
ROUND_ITERATIONS = 250
FINAL_ITERATIONS = 1_000
# numpy.einsum names axes by letter, so the path of a pair marginal through the junction tree
# is computed for at most this many attributes.
MAX_ATTRIBUTES = 52

# XLA's CPU options for one thread; they take effect only before JAX's first computation.
SINGLE_THREAD_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

Clique = tuple[int, ...]  # attribute positions, ascending
Progress = Callable[[str], None]


class AimError(ValueError):
    """Input AIM cannot fit or generate from, with what to change."""


# ---------------------------------------------------------------------------------------------
# Privacy accounting


def zcdp_delta(rho: float, epsilon: float) -> float:
    """The smallest δ for which ρ-zCDP implies (ε, δ)-DP, by the conversion of Canonne,
    Kamath and Steinke, "The Discrete Gaussian for Differential Privacy" (2020, Prop. 12 with
    Rényi DP of every order a: (a, aρ)):

        δ = inf over a > 1 of  exp((a − 1)(aρ − ε)) / a · (1 − 1/a)^(a − 1).

    The logarithm of the bracket, f(a) = (a − 1)(aρ − ε) + (a − 1)·log(1 − 1/a) − log a, is
    convex with f'(a) = (2a − 1)ρ − ε + log(1 − 1/a), so its minimum is where f' = 0, found
    by bisection.
    """
    if rho <= 0:
        return 0.0

    def slope(a: float) -> float:
        return (2 * a - 1) * rho - epsilon + math.log1p(-1 / a)

    low, high = 1.0, 2.0
    while slope(high) < 0:
        low, high = high, 2 * high
    for _ in range(200):
        middle = (low + high) / 2
        if middle in (low, high):
            break
        low, high = (middle, high) if slope(middle) < 0 else (low, middle)
    a = high
    log_delta = (a - 1) * (a * rho - epsilon) + (a - 1) * math.log1p(-1 / a) - math.log(a)
    return min(1.0, math.exp(log_delta))


def zcdp_rho(epsilon: float, delta: float) -> float:
    """The largest ρ whose ρ-zCDP implies (ε, δ)-DP, by the tight numerical conversion of
    Canonne, Kamath and Steinke (2020) that private-pgm's `cdp2adp` uses: ρ such that
    inf over a > 1 of exp((a − 1)(aρ − ε)) / a · (1 − 1/a)^(a − 1) = δ (see `zcdp_delta`),
    found by bisection, since that δ grows with ρ. For ε = 1, δ = 1e-9 it is about 0.0150.

    It is never below the standard bound from ε = ρ + 2·√(ρ·log(1/δ)), which is
    ρ = (√(ε + log(1/δ)) − √(log(1/δ)))², and the search starts there.
    """
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise AimError(f"ε must be a positive number, got {epsilon}")
    if not 0 < delta < 1:
        raise AimError(f"δ must be between 0 and 1, got {delta}")
    log_inverse = math.log(1 / delta)
    low = (math.sqrt(epsilon + log_inverse) - math.sqrt(log_inverse)) ** 2
    high = 2 * low
    while zcdp_delta(high, epsilon) <= delta:
        low, high = high, 2 * high
    for _ in range(200):
        middle = (low + high) / 2
        if middle in (low, high):
            break
        low, high = (middle, high) if zcdp_delta(middle, epsilon) <= delta else (low, middle)
    return low


# ---------------------------------------------------------------------------------------------
# Fitting


def candidate_weights(attributes: int) -> dict[Clique, float]:
    """Every 1-way and 2-way marginal (the downward closure of the all-pairs workload), each
    weighted by Σ over workload pairs s of |r ∩ s|: 2(d − 1) for a pair, d − 1 for one
    attribute."""
    workload = list(itertools.combinations(range(attributes), 2))
    closure = {sub for s in workload for k in (1, 2) for sub in itertools.combinations(s, k)}
    return {
        r: float(sum(len(set(r) & set(s)) for s in workload))
        for r in sorted(closure, key=lambda r: (len(r), r))
    }


def fit_aim(
    codes: np.ndarray,
    sizes: Sequence[int],
    names: Sequence[str],
    rho: float,
    seed: int,
    *,
    max_model_size_mb: float = DEFAULT_MAX_MODEL_SIZE_MB,
    max_rounds: int | None = None,
    progress: Progress | None = None,
    cache_dir: str | None = None,
) -> dict[str, Any]:
    """Fit AIM to `codes` at ρ-zCDP and return its description, JSON-ready.

    `codes` is a (rows × attributes) integer array; column j holds codes 0..sizes[j] − 1 of
    attribute names[j]. The sizes must come from a public, declared domain, not from the
    data. `max_rounds` caps the rounds after the 1-way measurements (the last one spends
    what is left); `cache_dir`, when given, holds JAX's persistent compilation cache, and
    nothing else is written anywhere.

    The description holds the attributes and sizes, every noisy measurement (clique, noisy
    marginal, σ), a ledger with one entry per measurement (the ρ it cost to select, ε²/8, and
    to measure, 1/(2σ²); they sum to `rho`), and the final model: its junction tree's cliques
    and their estimated marginals, which `generate_aim` samples from. No record, count or
    row total of the data is in it unless through noise.
    """
    codes, sizes, names = _checked_input(codes, sizes, names, rho, max_model_size_mb, max_rounds)
    mbi = _mbi(cache_dir)
    report = progress or (lambda _message: None)
    rng = np.random.default_rng(seed)
    d = len(sizes)
    domain = mbi.Domain(names, sizes)
    weights = candidate_weights(d)
    answers = {r: _counts(codes, sizes, r) for r in weights}

    budget_rounds = ROUNDS_PER_ATTRIBUTE * d
    sigma = math.sqrt(budget_rounds / (2 * ALPHA * rho))
    epsilon = math.sqrt(8 * (1 - ALPHA) * rho / budget_rounds)
    estimator = _Estimator(mbi, domain, names, sizes)
    ledger: list[dict[str, Any]] = []

    def measure(clique: Clique, sigma: float, round_number: int, **entry: Any) -> None:
        noisy = answers[clique] + rng.normal(0.0, sigma, answers[clique].size)
        estimator.add(clique, noisy, sigma)
        ledger.append(
            {
                "round": round_number,
                "clique": [names[j] for j in clique],
                "sigma": sigma,
                "rho_measurement": 0.5 / sigma**2,
                "rho_selection": 0.0,
                "epsilon": None,
                "selection_sensitivity": None,
                "candidates": None,
                "annealed": False,
                **entry,
            }
        )

    for j in range(d):
        measure((j,), sigma, 0)
    rho_used = d * 0.5 / sigma**2
    model = estimator.estimate(ROUND_ITERATIONS)
    report(f"AIM: {d} one-way marginals measured, σ = {sigma:.1f}")

    round_number, last = 0, False
    while not last:
        round_number += 1
        remaining = rho - rho_used
        rho_selection, rho_measurement = epsilon**2 / 8, 0.5 / sigma**2
        if remaining <= 2 * (rho_selection + rho_measurement) or round_number == max_rounds:
            last = True
            rho_selection = (1 - ALPHA) * remaining
            rho_measurement = remaining - rho_selection
            epsilon, sigma = math.sqrt(8 * rho_selection), math.sqrt(0.5 / rho_measurement)
        rho_used = rho if last else rho_used + rho_selection + rho_measurement

        size_limit = max_model_size_mb * rho_used / rho
        candidates = [r for r in weights if estimator.fits(r, size_limit)]
        chosen = _select(candidates, weights, answers, model, sigma, epsilon, rng)
        before = model.marginal(chosen)
        measure(
            chosen,
            sigma,
            round_number,
            rho_selection=rho_selection,
            rho_measurement=rho_measurement,
            epsilon=epsilon,
            selection_sensitivity=max(weights[r] for r in candidates),
            candidates=len(candidates),
        )
        model = estimator.estimate(FINAL_ITERATIONS if last else ROUND_ITERATIONS, warm=True)
        moved = float(np.abs(model.marginal(chosen) - before).sum())
        if not last and moved <= math.sqrt(2 / math.pi) * sigma * answers[chosen].size:
            sigma, epsilon = sigma / 2, epsilon * 2
            ledger[-1]["annealed"] = True
        report(
            f"AIM round {round_number}: {' × '.join(names[j] for j in chosen)}, "
            f"ρ used {rho_used:.5f} of {rho:.5f}"
        )

    return {
        "mechanism": MECHANISM,
        "attributes": [
            {"name": name, "size": size} for name, size in zip(names, sizes, strict=True)
        ],
        "privacy": {
            "rho": rho,
            "rho_spent": math.fsum(e["rho_selection"] + e["rho_measurement"] for e in ledger),
            "unit": "one record added or removed",
        },
        "parameters": {
            "alpha": ALPHA,
            "budget_rounds": budget_rounds,
            "max_model_size_mb": max_model_size_mb,
            "max_rounds": max_rounds,
            "round_iterations": ROUND_ITERATIONS,
            "final_iterations": FINAL_ITERATIONS,
            "workload": "every 2-way marginal",
        },
        "ledger": ledger,
        "measurements": estimator.measurements_json(),
        "model": model.to_json(names),
    }


def _checked_input(
    codes: np.ndarray,
    sizes: Sequence[int],
    names: Sequence[str],
    rho: float,
    max_model_size_mb: float,
    max_rounds: int | None,
) -> tuple[np.ndarray, list[int], list[str]]:
    codes = np.asarray(codes)
    sizes, names = [int(s) for s in sizes], [str(n) for n in names]
    if codes.ndim != 2 or not np.issubdtype(codes.dtype, np.integer):
        raise AimError(
            f"codes must be a 2-D integer array, got {codes.dtype} of shape {codes.shape}"
        )
    if not 2 <= len(sizes) <= MAX_ATTRIBUTES:
        raise AimError(f"AIM needs 2 to {MAX_ATTRIBUTES} attributes, got {len(sizes)}")
    if codes.shape[1] != len(sizes) or len(names) != len(sizes):
        raise AimError(
            f"codes have {codes.shape[1]} columns, sizes {len(sizes)} and names {len(names)}"
        )
    if len(set(names)) != len(names):
        raise AimError(f"attribute names must be distinct, got {names}")
    if min(sizes) < 1:
        raise AimError(f"every domain size must be at least 1, got {sizes}")
    if len(codes) == 0:
        raise AimError("codes have no rows")
    for j, (name, size) in enumerate(zip(names, sizes, strict=True)):
        low, high = int(codes[:, j].min()), int(codes[:, j].max())
        if low < 0 or high >= size:
            raise AimError(
                f"column {name!r} holds codes {low}..{high}, outside its domain 0..{size - 1}"
            )
    if not (math.isfinite(rho) and rho > 0):
        raise AimError(f"ρ must be a positive number, got {rho}")
    if not max_model_size_mb > 0:
        raise AimError(f"max_model_size_mb must be positive, got {max_model_size_mb}")
    if max_rounds is not None and max_rounds < 1:
        raise AimError(f"max_rounds must be at least 1, got {max_rounds}")
    return codes.astype(np.int64, copy=False), sizes, names


def _counts(codes: np.ndarray, sizes: Sequence[int], clique: Clique) -> np.ndarray:
    """The exact marginal counts of `clique`, flattened in C order."""
    shape = tuple(sizes[j] for j in clique)
    keys = np.ravel_multi_index(tuple(codes[:, j] for j in clique), shape)
    return np.bincount(keys, minlength=math.prod(shape)).astype(float)


def _select(
    candidates: list[Clique],
    weights: dict[Clique, float],
    answers: dict[Clique, np.ndarray],
    model: JunctionTree,
    sigma: float,
    epsilon: float,
    rng: np.random.Generator,
) -> Clique:
    """The exponential mechanism at ε, by the Gumbel-max trick: the argmax of
    ε·q_r/(2Δ) + Gumbel noise is r with probability ∝ exp(ε·q_r/(2Δ))."""
    bias = math.sqrt(2 / math.pi) * sigma
    quality = np.array(
        [
            weights[r] * (np.abs(answers[r] - model.marginal(r)).sum() - bias * answers[r].size)
            for r in candidates
        ]
    )
    sensitivity = max(weights[r] for r in candidates)
    scores = epsilon * quality / (2 * sensitivity) + rng.gumbel(size=len(candidates))
    return candidates[int(np.argmax(scores))]


def _mbi(cache_dir: str | None) -> ModuleType:
    """`mbi`, with JAX in float64 (in float32, mirror descent stalls on counts in the hundreds
    of thousands, mbi warns) and its persistent compilation cache in `cache_dir` only.

    Both are settings of the whole process; JAX is imported here, not with this module, so
    that loading the pipeline's definitions does not pay for it.
    """
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    jax.config.update("jax_enable_x64", True)
    wanted = os.path.abspath(cache_dir) if cache_dir is not None else None
    if (jax.config.jax_compilation_cache_dir, jax.config.jax_enable_compilation_cache) != (
        wanted,
        wanted is not None,
    ):
        compilation_cache.reset_cache()
        jax.config.update("jax_compilation_cache_dir", wanted)
        jax.config.update("jax_enable_compilation_cache", wanted is not None)
        # mbi's programs are small and many; without this, those compiled in under a second
        # (most of them) would be compiled again on every run.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    with warnings.catch_warnings():
        # mbi warns against the cache at import when it is on: it is on only when asked for.
        warnings.filterwarnings("ignore", "JAX persistent compilation cache", UserWarning)
        import mbi
    return mbi


class _Estimator:
    """The noisy measurements so far, and mbi's mirror descent over them.

    Measurements of the same clique are pooled into one, their precision-weighted mean with
    σ = (Σ 1/σᵢ²)^(−1/2): the squared loss and so the estimate are the same, and mbi's
    compiled program, whose shape follows the set of measured cliques, is reused when a clique
    is measured again. The cliques are passed in one canonical order for the same reason.
    """

    def __init__(self, mbi: ModuleType, domain: Any, names: list[str], sizes: list[int]):
        self.mbi, self.domain, self.names, self.sizes = mbi, domain, names, sizes
        self.history: list[tuple[Clique, np.ndarray, float]] = []
        self.pooled: dict[Clique, tuple[np.ndarray, float]] = {}  # precision-weighted sum
        self.model: Any = None
        self._sizes_cache: dict[frozenset[Clique], float] = {}

    def add(self, clique: Clique, noisy: np.ndarray, sigma: float) -> None:
        self.history.append((clique, noisy, sigma))
        weighted, precision = self.pooled.get(clique, (np.zeros_like(noisy), 0.0))
        self.pooled[clique] = (weighted + noisy / sigma**2, precision + 1 / sigma**2)

    def cliques(self) -> list[Clique]:
        return sorted(self.pooled, key=lambda c: (len(c), c))

    def fits(self, clique: Clique, size_limit: float) -> bool:
        """Whether the model with `clique` added stays within `size_limit` megabytes."""
        current = self.cliques()
        if any(set(clique) <= set(c) for c in current):
            return True
        key = frozenset([*current, clique])
        if key not in self._sizes_cache:
            named = [tuple(self.names[j] for j in c) for c in key]
            self._sizes_cache[key] = self.mbi.junction_tree.hypothetical_model_size(
                self.domain, named
            )
        return self._sizes_cache[key] <= size_limit

    def estimate(self, iterations: int, warm: bool = False) -> JunctionTree:
        measurements = []
        for clique in self.cliques():
            weighted, precision = self.pooled[clique]
            measurements.append(
                self.mbi.LinearMeasurement(
                    weighted / precision,
                    tuple(self.names[j] for j in clique),
                    stddev=float(precision**-0.5),
                )
            )
        self.model = self.mbi.estimation.MirrorDescent().estimate(
            self.domain,
            measurements,
            iters=iterations,
            warm_start=self.model if warm else None,
        )
        return self._junction_tree()

    def _junction_tree(self) -> JunctionTree:
        """The model's junction tree with calibrated marginals, computed here in numpy from
        mbi's potentials (mbi's own oracle would compile once more for every new shape)."""
        position = {name: j for j, name in enumerate(self.names)}
        tree, _ = self.mbi.junction_tree.make_junction_tree(self.domain, self.model.cliques)
        ascending = {node: tuple(sorted(position[a] for a in node)) for node in tree.nodes}
        cliques = sorted(ascending.values(), key=lambda c: (len(c), c))
        index = {c: i for i, c in enumerate(cliques)}
        edges = sorted(
            tuple(sorted((index[ascending[u]], index[ascending[v]]))) for u, v in tree.edges
        )
        log_potentials = [np.zeros(tuple(self.sizes[j] for j in c)) for c in cliques]
        for factor in self.model.potentials.tables.values():
            clique = tuple(position[a] for a in factor.domain.attributes)
            order = sorted(range(len(clique)), key=lambda i: clique[i])
            values = np.transpose(np.asarray(factor.values, dtype=float), order)
            clique = tuple(clique[i] for i in order)
            host = next(i for i, c in enumerate(cliques) if set(clique) <= set(c))
            log_potentials[host] = log_potentials[host] + _expand(values, clique, cliques[host])
        marginals = _calibrate(cliques, edges, log_potentials)
        return JunctionTree(cliques, edges, marginals, float(self.model.total))

    def measurements_json(self) -> list[dict[str, Any]]:
        return [
            {
                "clique": [self.names[j] for j in clique],
                "sigma": sigma,
                "noisy_marginal": [float(v) for v in noisy],
            }
            for clique, noisy, sigma in self.history
        ]


# ---------------------------------------------------------------------------------------------
# Junction trees in numpy: calibration, marginals, sampling


class JunctionTree:
    """A decomposable model: cliques (attribute positions, ascending), the tree's edges
    between them, each clique's marginal distribution (axes in clique order, summing to 1),
    and the model's total (its estimate of the number of records)."""

    def __init__(
        self,
        cliques: list[Clique],
        edges: list[tuple[int, int]],
        marginals: list[np.ndarray],
        total: float,
    ):
        self.cliques, self.edges, self.marginals, self.total = cliques, edges, marginals, total
        self.neighbours: dict[int, list[int]] = {i: [] for i in range(len(cliques))}
        for u, v in edges:
            self.neighbours[u].append(v)
            self.neighbours[v].append(u)

    def marginal(self, query: Clique) -> np.ndarray:
        """The model's counts over `query` (1 or 2 attributes), flattened in C order."""
        return (self._shares(query) * self.total).ravel()

    def _shares(self, query: Clique) -> np.ndarray:
        for clique, table in zip(self.cliques, self.marginals, strict=True):
            if set(query) <= set(clique):
                return _project(table, clique, query)
        first, second = query
        path = self._path(first, second)
        if path is None:  # in different components of the tree: independent
            return np.multiply.outer(self._shares((first,)), self._shares((second,)))
        # Carry the joint of `first` and each separator along the path to `second`.
        start = self.cliques[path[0]]
        separator = tuple(sorted(set(start) & set(self.cliques[path[1]])))
        carried_axes = tuple(sorted({first, *separator}))
        carried = _project(self.marginals[path[0]], start, carried_axes)
        for k in range(1, len(path)):
            clique, table = self.cliques[path[k]], self.marginals[path[k]]
            incoming = tuple(sorted(set(self.cliques[path[k - 1]]) & set(clique)))
            divisor = _expand(_project(table, clique, incoming), incoming, clique)
            conditional = np.divide(table, divisor, out=np.zeros_like(table), where=divisor > 0)
            if k + 1 < len(path):
                outgoing = set(clique) & set(self.cliques[path[k + 1]])
            else:
                outgoing = {second}
            target = tuple(sorted({first, *outgoing}))
            carried = np.einsum(
                carried, list(carried_axes), conditional, list(clique), list(target)
            )
            carried_axes = target
        return carried

    def _path(self, first: int, second: int) -> list[int] | None:
        """The shortest path of cliques from one holding `first` to one holding `second`: only
        its first clique holds `first` and only its last holds `second`."""
        parents = {i: -1 for i, c in enumerate(self.cliques) if first in c}
        frontier = list(parents)
        while frontier:
            following = []
            for node in frontier:
                if second in self.cliques[node]:
                    path = [node]
                    while parents[path[-1]] != -1:
                        path.append(parents[path[-1]])
                    return path[::-1]
                for neighbour in self.neighbours[node]:
                    if neighbour not in parents:
                        parents[neighbour] = node
                        following.append(neighbour)
            frontier = following
        return None

    def to_json(self, names: Sequence[str]) -> dict[str, Any]:
        return {
            "cliques": [[names[j] for j in clique] for clique in self.cliques],
            "tree_edges": [list(edge) for edge in self.edges],
            "estimated_records": self.total,
            "marginals": [[float(v) for v in table.ravel()] for table in self.marginals],
        }


def _project(table: np.ndarray, clique: Clique, onto: Sequence[int]) -> np.ndarray:
    """Sum `table` (axes in `clique` order) down to the attributes `onto`, ascending."""
    return table.sum(axis=tuple(i for i, a in enumerate(clique) if a not in onto))


def _expand(table: np.ndarray, sub: Sequence[int], clique: Clique) -> np.ndarray:
    """`table` over `sub` (ascending, within `clique`) shaped to broadcast over `clique`'s
    axes."""
    sizes = dict(zip(sub, np.shape(table), strict=True))
    return np.reshape(table, [sizes.get(a, 1) for a in clique])


def _tree_order(cliques: int, edges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Every clique with its parent (−1 for a root), parents first: breadth-first from the
    lowest-numbered clique of each component."""
    neighbours: dict[int, list[int]] = {i: [] for i in range(cliques)}
    for u, v in edges:
        neighbours[u].append(v)
        neighbours[v].append(u)
    order: list[tuple[int, int]] = []
    seen: set[int] = set()
    for root in range(cliques):
        if root in seen:
            continue
        seen.add(root)
        queue = [(root, -1)]
        while queue:
            node, parent = queue.pop(0)
            order.append((node, parent))
            for neighbour in sorted(neighbours[node]):
                if neighbour not in seen:
                    seen.add(neighbour)
                    queue.append((neighbour, node))
    return order


def _calibrate(
    cliques: list[Clique], edges: list[tuple[int, int]], log_potentials: list[np.ndarray]
) -> list[np.ndarray]:
    """Each clique's marginal of the model ∝ exp(Σ log-potentials), by two passes of message
    passing over the tree in log space (toward the roots, then back)."""
    order = _tree_order(len(cliques), edges)
    messages: dict[tuple[int, int], np.ndarray] = {}  # (from, to) -> log message over separator

    def incoming(node: int, skip: int = -2) -> np.ndarray:
        total = log_potentials[node]
        for (source, target), message in messages.items():
            if target == node and source != skip:
                separator = tuple(sorted(set(cliques[source]) & set(cliques[node])))
                total = total + _expand(message, separator, cliques[node])
        return total

    def send(source: int, target: int, belief: np.ndarray) -> None:
        clique = cliques[source]
        separator = set(clique) & set(cliques[target])
        axes = tuple(i for i, a in enumerate(clique) if a not in separator)
        messages[(source, target)] = logsumexp(belief, axis=axes) if axes else belief

    for node, parent in reversed(order):
        if parent >= 0:
            send(node, parent, incoming(node, skip=parent))
    for child, parent in order:
        if parent >= 0:
            send(parent, child, incoming(parent, skip=child))
    marginals = []
    for node in range(len(cliques)):
        belief = incoming(node)
        marginals.append(np.exp(belief - logsumexp(belief)))
    return marginals


# ---------------------------------------------------------------------------------------------
# Generating


def generate_aim(description: dict[str, Any], rows: int, seed: int) -> np.ndarray:
    """`rows` records as a (rows × attributes) integer array drawn from the model in an AIM
    description; the same seed gives the same codes.

    The description stores the model's junction-tree marginals as well as the measurements,
    so that generating needs neither JAX nor a second estimation. They are still only a
    function of the noisy measurements: mbi's estimate is a deterministic computation on the
    noisy marginals (and nothing else of the data), so storing its result is post-processing
    and costs no privacy.

    Records are drawn clique by clique along the junction tree: a root clique's attributes from
    its marginal, then each further clique's new attributes given those it shares with its
    parent clique. Each draw is systematic (see `_systematic_uniforms`): the records that share
    the given attributes take each value in the model's proportion to within one record, where
    independent draws would add a second sample's worth of noise to every marginal. (mbi's own
    `synthetic_data` rounds counts to the model's totals for the same reason, but draws from
    numpy's global random state.)
    """
    attributes, model = _checked_description(description)
    if rows < 0:
        raise AimError(f"rows must be at least 0, got {rows}")
    position = {a["name"]: j for j, a in enumerate(attributes)}
    sizes = [int(a["size"]) for a in attributes]
    cliques = [tuple(position[name] for name in clique) for clique in model["cliques"]]
    edges = [(int(u), int(v)) for u, v in model["tree_edges"]]
    rng = np.random.default_rng(seed)
    codes = np.zeros((rows, len(sizes)), dtype=np.int64)
    for node, parent in _tree_order(len(cliques), edges):
        clique = cliques[node]
        table = np.asarray(model["marginals"][node], dtype=float).reshape(
            tuple(sizes[j] for j in clique)
        )
        given = [a for a in clique if parent >= 0 and a in cliques[parent]]
        new = [a for a in clique if a not in given]
        # Rows of the conditional table: one per combination of the given attributes.
        axes = [clique.index(a) for a in given + new]
        conditional = np.transpose(table, axes).reshape(
            math.prod(sizes[a] for a in given), math.prod(sizes[a] for a in new)
        )
        row = (
            np.ravel_multi_index(tuple(codes[:, a] for a in given), [sizes[a] for a in given])
            if given
            else np.zeros(rows, dtype=np.int64)
        )
        cell = _draw_rows(conditional, row, rng)
        for a, values in zip(new, np.unravel_index(cell, [sizes[a] for a in new]), strict=True):
            codes[:, a] = values
    return codes


def _draw_rows(table: np.ndarray, row: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each entry of `row`, a column of `table` drawn with probability proportional to
    that row of `table` (uniform where a row is all zero). All rows' cumulative shares are laid
    end to end, row i's in [i, i + 1], so one sorted search serves every row."""
    table = np.clip(table, 0, None)
    totals = table.sum(axis=1, keepdims=True)
    shares = np.divide(table, totals, out=np.full_like(table, 1 / table.shape[1]), where=totals > 0)
    cumulative = np.cumsum(shares, axis=1)
    cumulative /= cumulative[:, -1:]
    cumulative += np.arange(len(table))[:, None]
    found = np.searchsorted(cumulative.ravel(), row + _systematic_uniforms(row, rng), side="right")
    return np.minimum(found - row * table.shape[1], table.shape[1] - 1)


def _systematic_uniforms(row: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One number in [0, 1) per entry of `row`: the m entries of each distinct value, in a
    random order, get (k + U)/m for k = 0 … m − 1 with one uniform U per value. Each is still
    uniform, but together they are evenly spread, so inverting a cumulative share with them
    gives every value within one entry of its expected count (systematic sampling)."""
    entries = len(row)
    order = rng.permutation(entries)
    order = order[np.argsort(row[order], kind="stable")]
    grouped = row[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    counts = np.diff(np.r_[starts, entries])
    group = np.repeat(np.arange(len(starts)), counts)
    rank = np.arange(entries) - starts[group]
    uniforms = np.empty(entries)
    uniforms[order] = (rank + rng.random(len(starts))[group]) / counts[group]
    return uniforms


def _checked_description(description: dict[str, Any]) -> tuple[list[dict], dict[str, Any]]:
    if not isinstance(description, dict) or description.get("mechanism") != MECHANISM:
        raise AimError("not an AIM description: its 'mechanism' is not 'AIM'")
    model = description.get("model", {})
    missing = [key for key in ("attributes", "model") if key not in description] + [
        f"model.{key}" for key in ("cliques", "tree_edges", "marginals") if key not in model
    ]
    if missing:
        raise AimError(f"the AIM description has no {', '.join(missing)}")
    if len(model["cliques"]) != len(model["marginals"]):
        raise AimError(
            f"the AIM description's model has {len(model['cliques'])} cliques"
            f" but {len(model['marginals'])} marginals"
        )
    return description["attributes"], model
