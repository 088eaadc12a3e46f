"""The privacy ledger: what each released part of a description cost, under which
neighbouring relation, and what is assumed public.

Each engine says which noise it added (the mechanism, the sensitivity it was calibrated to,
its scale or its ε, and how many releases used it); this module turns that into privacy cost
and totals, so that the cost is computed from the noise, in one place, for every engine:

- Laplace noise of scale b on a release of L1 sensitivity Δ costs ε = Δ / b;
- the exponential mechanism run at ε costs ε (its sensitivity is written down beside it);
- Gaussian noise of standard deviation σ on a release of L2 sensitivity Δ costs
  ρ = Δ² / (2σ²) in zero-concentrated differential privacy (zCDP).

Pure ε adds up over releases (basic composition), and so does ρ; a ledger in ρ states the
(ε, δ) its total implies by the conversion in `aim.zcdp_delta`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import pandas as pd

from aesynth_pipeline.domain.aim import zcdp_delta

ADD_REMOVE = "add or remove one attendance"
REPLACE_ONE = "replace one attendance by another, the number of attendances being public"
UNIT = (
    "one attendance: a patient who attended several times is protected for each attendance "
    "separately, so k attendances of one patient are protected at k times the budget"
)
DECLARED_DOMAIN = "each column's declared domain (public_domain.py), not read from the data"

Mechanism = Literal["laplace", "exponential", "gaussian", "exponential (zCDP)"]


@dataclass(frozen=True)
class Charge:
    """Noise an engine added to release part of a description."""

    artefact: str
    mechanism: Mechanism
    releases: int
    # L1 sensitivity (Laplace), score sensitivity (exponential) or L2 sensitivity (Gaussian);
    # None where writing it down would publish the row count it is computed from.
    sensitivity: float | None
    # Laplace's b or Gaussian's σ, per release; None for the exponential mechanism.
    scale: float | None = None
    # The exponential mechanism's ε, per release; None otherwise.
    epsilon_each: float | None = None

    @property
    def epsilon(self) -> float | None:
        """Its pure-ε cost, all releases together (None for a zCDP charge)."""
        if self.mechanism == "laplace":
            return self.releases * self.sensitivity / self.scale
        if self.mechanism == "exponential":
            return self.releases * self.epsilon_each
        return None

    @property
    def rho(self) -> float | None:
        """Its ρ-zCDP cost, all releases together (None for a pure-ε charge)."""
        if self.mechanism == "gaussian":
            return self.releases * self.sensitivity**2 / (2 * self.scale**2)
        if self.mechanism == "exponential (zCDP)":
            # The exponential mechanism at ε is ε²/8-zCDP (Cesar and Rogers, 2021).
            return self.releases * self.epsilon_each**2 / 8
        return None


def ledger(
    charges: Iterable[Charge],
    relation: str,
    public: Iterable[str],
    delta: float | None = None,
    noiseless: bool = False,
) -> dict[str, Any]:
    """The JSON-ready ledger of a description: each charge with its cost, and the total.

    Pure-ε charges total in ε with δ = 0; zCDP charges total in ρ and state the ε their ρ
    gives at `delta`. A `noiseless` description (ε = 0 asked for) has no guarantee at all,
    and its total says so; one that read nothing of the data has no charge and costs 0.
    """
    charges = list(charges)
    if noiseless:
        return {
            "neighbouring relation": relation,
            "unit": UNIT,
            "assumed public": list(public),
            "charges": [],
            "total": {"rho": None, "epsilon": None, "delta": None},
            "guarantee": "none: ε = 0 turns the noise off, and the description is exact",
        }
    entries = [
        {**asdict(charge), "epsilon": charge.epsilon, "rho": charge.rho} for charge in charges
    ]
    rho = math.fsum(charge.rho or 0.0 for charge in charges)
    if rho and any(charge.epsilon for charge in charges):
        raise ValueError("a ledger is kept either in ε or in ρ, not both")
    total: dict[str, float | None]
    if rho:
        if delta is None:
            raise ValueError("a ledger in ρ needs the δ at which to state its ε")
        total = {"rho": rho, "epsilon": epsilon_of_rho(rho, delta), "delta": delta}
    else:
        total = {"rho": None, "epsilon": math.fsum(c.epsilon or 0.0 for c in charges), "delta": 0.0}
    return {
        "neighbouring relation": relation,
        "unit": UNIT,
        "assumed public": list(public),
        "charges": entries,
        "total": total,
    }


def epsilon_of_rho(rho: float, delta: float) -> float:
    """The smallest ε for which ρ-zCDP gives (ε, δ)-differential privacy, by bisection on
    `zcdp_delta`, which falls as ε grows."""
    low, high = 0.0, rho + 2 * math.sqrt(rho * math.log(1 / delta))
    for _ in range(200):
        middle = (low + high) / 2
        if middle in (low, high):
            break
        low, high = (middle, high) if zcdp_delta(rho, middle) > delta else (low, middle)
    return high


def totals_table(ledgers: Mapping[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per mode: what its description cost in all, under which relation, and what
    it takes as public."""
    return pd.DataFrame(
        [
            {
                "mode": mode,
                "ε spent": _figure(entry["total"]["epsilon"]),
                "δ": _figure(entry["total"]["delta"]),
                "ρ (zCDP)": _figure(entry["total"]["rho"]),
                "neighbouring relation": entry["neighbouring relation"],
                "assumed public": "; ".join(entry["assumed public"]),
            }
            for mode, entry in ledgers.items()
        ]
    )


def charges_table(ledgers: Mapping[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per charge of every mode: the part released, its noise and its cost."""
    return pd.DataFrame(
        [
            {
                "mode": mode,
                "released": charge["artefact"],
                "mechanism": charge["mechanism"],
                "releases": charge["releases"],
                "sensitivity": _figure(charge["sensitivity"]),
                "noise scale": _figure(charge["scale"]),
                "ε": _figure(charge["epsilon"]),
                "ρ": _figure(charge["rho"]),
            }
            for mode, entry in ledgers.items()
            for charge in entry["charges"]
        ],
        columns=[
            "mode", "released", "mechanism", "releases", "sensitivity", "noise scale", "ε", "ρ"
        ],
    )  # fmt: skip


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"
