"""The synthesis modes, each described once: what it does, what it promises to keep, and
the parameters its description depends on.

The asset factory, the code versions, the checks, the release rules, the report and the tests
all read this registry, so a mode is added or changed here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

Mode = Literal["random", "independent", "correlated", "aim"]
# Who runs random, independent and correlated mode: DataSynthesizer itself, or the
# vectorised re-implementation of its algorithms.
Engine = Literal["datasynthesizer", "fast"]
ENGINES: tuple[Engine, ...] = ("datasynthesizer", "fast")
DEFAULT_ENGINE: Engine = "fast"


class Promise(IntEnum):
    """What a synthetic dataset claims to keep of the training data; each level keeps
    everything the levels below it keep, and is judged by their release rules too."""

    SCHEMA = 1  # the columns, their types and their domains
    COLUMNS = 2  # and each column's distribution
    RELATIONS = 3  # and the relations between columns


PROMISE_WORDS = {
    Promise.SCHEMA: "the schema and domains",
    Promise.COLUMNS: "each column's distribution",
    Promise.RELATIONS: "the relations between columns",
}


@dataclass(frozen=True)
class ModeSpec:
    name: Mode
    summary: str
    promise: Promise
    # The pipeline parameters (settings) the mode's description depends on, beyond the
    # training data: they enter the code versions of its assets.
    parameters: tuple[str, ...]
    # The package that fits the description; None: the `engine` setting chooses it.
    engine: str | None = None
    # How many adjacent declared Time in A&E bins the mode merges into one. The Bayesian
    # network's conditional tables put noise of one scale in every cell, so at 10,000 rows
    # sixteen-minute bins keep relations better than the declared four-minute ones (mean
    # 2-way TVD 0.110 against 0.142 over 20 seeds, benchmarks/accounting_benchmark.py); AIM
    # chooses what to measure and keeps the declared bins.
    time_bins_merged: int = 1


MODE_SPECS: dict[Mode, ModeSpec] = {
    spec.name: spec
    for spec in (
        ModeSpec(
            "random",
            "random values of the right types, with no information about the data",
            Promise.SCHEMA,
            ("engine",),
        ),
        ModeSpec(
            "independent",
            "each attribute's own distribution, with differential-privacy noise, but no "
            "relation between attributes",
            Promise.COLUMNS,
            ("epsilon", "engine"),
        ),
        ModeSpec(
            "correlated",
            "a Bayesian network with differential-privacy noise that keeps the strongest "
            "relations between attributes",
            Promise.RELATIONS,
            ("epsilon", "bn_degree", "engine"),
            time_bins_merged=4,
        ),
        ModeSpec(
            "aim",
            "AIM, an adaptive and iterative mechanism that measures the 1-way and 2-way "
            "marginals worth measuring with Gaussian noise and fits a graphical model to them",
            Promise.RELATIONS,
            ("epsilon", "delta", "aim_max_model_size_mb"),
            engine="mbi",
        ),
    )
}
MODES: tuple[Mode, ...] = tuple(MODE_SPECS)


def promises() -> dict[str, Promise]:
    """Each mode's promise, by mode name: what the release rules judge it by."""
    return {name: spec.promise for name, spec in MODE_SPECS.items()}


def modes_using(parameter: str) -> tuple[Mode, ...]:
    """The modes whose descriptions depend on a parameter: those a change of it makes stale."""
    return tuple(name for name, spec in MODE_SPECS.items() if parameter in spec.parameters)
