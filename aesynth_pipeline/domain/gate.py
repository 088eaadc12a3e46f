"""The release gate: rules that fit each mode's promise, a verdict per mode, and the mode
to release.

A mode is judged by what it promises to keep (see `modes.Promise`): every mode by the
schema and the privacy rules; a mode that keeps each column's distribution also by its
1-way marginals; a mode that keeps relations also by the 2-way marginals of the pairs that
are associated in the training data. A marginal is kept when its total variation distance
exceeds its floor (what a perfect synthesiser scores at the same sizes) by no more than a
stated tolerance, beyond the floor's own sampling spread.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from aesynth_pipeline.domain.metrics import (
    ASSOCIATION,
    metric_value,
    synthetic_modes,
)
from aesynth_pipeline.domain.modes import PROMISE_WORDS, Promise


@dataclass(frozen=True)
class GateThresholds:
    """How far beyond its floor a kept marginal may be, and the allowance for sampling
    error in standard errors (the floor's spread, and the privacy figures' errors)."""

    tolerance_1way: float = 0.10
    tolerance_2way: float = 0.10
    standard_errors: float = 3.0


@dataclass(frozen=True)
class Rule:
    name: str
    # The rule judges every mode that promises at least this much.
    promise: Promise
    description: str


COLUMN_RULE, PAIR_RULE = "column_distributions", "associated_pairs"
SCHEMA_RULE = "schema_and_domains"
EXACT_MATCH_RULE, DISTANCE_RULE = "exact_matches", "distance_to_closest_record"
RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule(SCHEMA_RULE, Promise.SCHEMA, "Every record has the schema's columns and types, "
             "and every value lies in its column's declared domain."),
        Rule(COLUMN_RULE, Promise.COLUMNS, "Each column's distribution is kept: its total "
             "variation distance is at most its floor plus the 1-way tolerance, plus the "
             "allowance for the floor's sampling spread."),
        Rule(PAIR_RULE, Promise.RELATIONS, "Each pair of columns associated in the training "
             "data is kept: its joint distribution's total variation distance is at most its "
             "floor plus the 2-way tolerance, plus the allowance for sampling spread."),
        Rule(EXACT_MATCH_RULE, Promise.SCHEMA, "No more synthetic records copy a training "
             "record than unseen real records do (the hold-out's rate), beyond sampling "
             "error."),
        Rule(DISTANCE_RULE, Promise.SCHEMA, "Synthetic records are no closer to the training "
             "data than to unseen real data, beyond sampling error."),
    )
}  # fmt: skip
PRIVACY_RULES = (EXACT_MATCH_RULE, DISTANCE_RULE)
FIDELITY_RULES = (SCHEMA_RULE, COLUMN_RULE, PAIR_RULE)
# Each marginal rule: the metric it judges and the tolerance it allows.
MARGINAL_RULES = {
    COLUMN_RULE: ("tvd_1way", "tolerance_1way"),
    PAIR_RULE: ("tvd_2way", "tolerance_2way"),
}
GATE_COLUMNS = ["mode", "rule", "passed", "columns", "value", "limit", "reason"]
JUDGEMENT_COLUMNS = [
    "mode", "rule", "columns", "value", "floor", "floor_spread", "excess", "limit",
    "fair_limit", "kept",
]  # fmt: skip


def associated_pairs(metrics: pd.DataFrame) -> list[str]:
    """The pairs of columns associated in the training data, as the table names them."""
    rows = metrics[metrics["family"] == ASSOCIATION]
    return rows.loc[rows["value"] > rows["reference"], "columns"].tolist()


def marginal_judgements(metrics: pd.DataFrame, thresholds: GateThresholds) -> pd.DataFrame:
    """Every mode's 1-way marginals and associated 2-way marginals, each with the limit it
    is kept within (floor + tolerance + allowance) and the limit of a fair result (twice
    the tolerance)."""
    pairs = associated_pairs(metrics)
    frames = []
    for rule, (metric, tolerance_name) in MARGINAL_RULES.items():
        rows = metrics[metrics["metric"] == metric]
        if rule == PAIR_RULE:
            rows = rows[rows["columns"].isin(pairs)]
        tolerance = getattr(thresholds, tolerance_name)
        allowance = thresholds.standard_errors * rows["floor_spread"]
        frames.append(
            rows.assign(
                rule=rule,
                limit=rows["floor"] + tolerance + allowance,
                fair_limit=rows["floor"] + 2 * tolerance + allowance,
            )
        )
    judged = pd.concat(frames, ignore_index=True)
    judged["kept"] = judged["value"] <= judged["limit"]
    return judged[JUDGEMENT_COLUMNS]


def _marginal_verdict(judged: pd.DataFrame, tolerance: float, z: float) -> tuple:
    if judged.empty:
        return True, "", np.nan, np.nan, "no pair of columns is associated in the training data"
    worst = judged.loc[(judged["value"] - judged["limit"]).idxmax()]
    sign = "≤" if worst["kept"] else ">"
    reason = (
        f"{worst['columns']}: TVD {worst['value']:.3f} {sign} limit {worst['limit']:.3f} "
        f"(floor {worst['floor']:.3f} + tolerance {tolerance:g} + {z:g} × "
        f"{worst['floor_spread']:.3f})"
    )
    return bool(judged["kept"].all()), worst["columns"], worst["value"], worst["limit"], reason


def release_gate(
    metrics: pd.DataFrame,
    thresholds: GateThresholds,
    promises: Mapping[str, Promise],
    judgements: pd.DataFrame | None = None,
    rules: Iterable[str] = tuple(RULES),
) -> pd.DataFrame:
    """One row per mode and rule that applies to it (`GATE_COLUMNS`): the figure, the limit
    it must not exceed, the verdict, and a one-line reason naming the worst column. `rules`
    narrows the gate to some rules (the fidelity rules alone need no privacy figures)."""
    z = thresholds.standard_errors
    if judgements is None:
        judgements = marginal_judgements(metrics, thresholds)
    rows = []
    for mode in synthetic_modes(metrics):
        applies = [RULES[name] for name in rules if promises[mode] >= RULES[name].promise]
        for rule in applies:
            if rule.name == SCHEMA_RULE:
                share = float(metric_value(metrics, mode, "schema_violation_share")["value"])
                reason = f"{share:.2%} of records break the schema"
                rows.append((mode, rule.name, share <= 0, "", share, 0.0, reason))
            elif rule.name in MARGINAL_RULES:
                of_mode = judgements["mode"] == mode
                judged = judgements[of_mode & (judgements["rule"] == rule.name)]
                tolerance = getattr(thresholds, MARGINAL_RULES[rule.name][1])
                rows.append((mode, rule.name, *_marginal_verdict(judged, tolerance, z)))
            elif rule.name == EXACT_MATCH_RULE:
                rows.append((mode, rule.name, *_exact_match_verdict(metrics, mode, z)))
            else:
                rows.append((mode, rule.name, *_distance_verdict(metrics, mode, z)))
    return pd.DataFrame(rows, columns=GATE_COLUMNS)


def _exact_match_verdict(metrics: pd.DataFrame, mode: str, z: float) -> tuple:
    records = metric_value(metrics, mode, "records")
    matches = metric_value(metrics, mode, "exact_match_rate")
    rate, holdout_rate = matches["value"], matches["reference"]
    error = np.sqrt(
        rate * (1 - rate) / records["value"]
        + holdout_rate * (1 - holdout_rate) / records["reference"]
    )
    limit = holdout_rate + z * error
    sign = "≤" if rate <= limit else ">"
    reason = (
        f"{rate:.2%} of records copy a training record {sign} limit {limit:.2%} "
        f"(hold-out {holdout_rate:.2%} + {z:g} standard errors)"
    )
    return bool(rate <= limit), "", float(rate), float(limit), reason


def _distance_verdict(metrics: pd.DataFrame, mode: str, z: float) -> tuple:
    share = metric_value(metrics, mode, "dcr_closer_to_training_share")["value"]
    sample = metric_value(metrics, mode, "distance_sample")["value"]
    limit = 0.5 + z * np.sqrt(0.25 / sample)
    sign = "≤" if share <= limit else ">"
    reason = (
        f"{share:.1%} of records are closer to the training data than to unseen data {sign} "
        f"limit {limit:.1%} (chance 50% + {z:g} standard errors)"
    )
    return bool(share <= limit), "", float(share), float(limit), reason


# --- Verdicts and recommendation ----------------------------------------------------------


@dataclass(frozen=True)
class ModeVerdict:
    mode: str
    promise: Promise
    passed: bool
    failed: tuple[str, ...]  # one line per failed rule
    keeps: str
    loses: str
    # Mean excess over the floor of the judged marginals (each column, each associated
    # pair): what ranks the modes that pass, lower being more faithful.
    fidelity_excess: float


@dataclass(frozen=True)
class Recommendation:
    """The mode to release, or None: the release is then blocked."""

    mode: str | None
    reason: str
    # What the released dataset must keep: the most any mode that ran promises.
    required: Promise
    # Per mode that could have been released but broke a rule, why (one line each).
    blocked_by: tuple[str, ...] = ()


def mode_verdicts(
    gate: pd.DataFrame, judgements: pd.DataFrame, promises: Mapping[str, Promise]
) -> list[ModeVerdict]:
    """Per mode: whether it passes every rule that applies, and in words what it keeps and
    loses (judged on every mode alike, whatever it promises)."""
    verdicts = []
    for mode in gate["mode"].unique():
        rules = gate[gate["mode"] == mode]
        failed = rules[~rules["passed"]]
        judged = judgements[judgements["mode"] == mode]
        keeps, loses = _kept_and_lost(rules, judged)
        verdicts.append(
            ModeVerdict(
                mode=mode,
                promise=promises[mode],
                passed=failed.empty,
                failed=tuple(f"{row.rule}: {row.reason}" for row in failed.itertuples()),
                keeps=keeps,
                loses=loses,
                fidelity_excess=float(judged["excess"].mean()),
            )
        )
    return verdicts


def _kept_and_lost(rules: pd.DataFrame, judged: pd.DataFrame) -> tuple[str, str]:
    keeps, loses = [], []
    schema = rules[rules["rule"] == SCHEMA_RULE]
    if not schema.empty:
        (keeps if schema["passed"].all() else loses).append("the schema and domains")
    columns = judged[judged["rule"] == COLUMN_RULE]
    kept_columns = columns.loc[columns["kept"], "columns"].tolist()
    lost_columns = columns.loc[~columns["kept"], "columns"].tolist()
    if not lost_columns:
        keeps.append("each column's distribution")
    elif not kept_columns:
        loses.append("every column's distribution")
    else:
        keeps.append("the distributions of " + ", ".join(kept_columns))
        loses.append("the distributions of " + ", ".join(lost_columns))
    pairs = judged[judged["rule"] == PAIR_RULE]
    keeps += pairs.loc[pairs["kept"], "columns"].tolist()
    loses += pairs.loc[~pairs["kept"], "columns"].tolist()
    return "; ".join(keeps) or "nothing", "; ".join(loses) or "nothing"


def recommendation(verdicts: list[ModeVerdict]) -> Recommendation:
    """The most faithful mode that passes every rule and keeps what the most ambitious mode
    that ran promises, or none (a blocked release), with the reasons.

    A mode that promises less is no fallback: when every mode that keeps relations breaks a
    rule, releasing one that drops them would not be the dataset asked for.
    """
    required = max(verdict.promise for verdict in verdicts)
    candidates = [verdict for verdict in verdicts if verdict.promise >= required]
    passing = [verdict for verdict in candidates if verdict.passed]
    blocked_by = tuple(
        f"{verdict.mode} mode: {line}" for verdict in candidates for line in verdict.failed
    )
    if not passing:
        weaker = [verdict.mode for verdict in verdicts if verdict.passed]
        reason = (
            f"no mode that keeps {PROMISE_WORDS[required]} passes every rule that applies to it"
            + (f" ({', '.join(weaker)} mode keeps less)" if weaker else "")
        )
        return Recommendation(None, reason, required, blocked_by)
    best = min(passing, key=lambda verdict: verdict.fidelity_excess)
    others = ", ".join(verdict.mode for verdict in passing if verdict is not best)
    reason = (
        f"the most faithful of the modes that keep {PROMISE_WORDS[required]} and pass every "
        f"rule (mean excess over the floor {best.fidelity_excess:.3f}"
        + (f"; also passing: {others})" if others else ")")
    )
    return Recommendation(best.mode, reason, required, blocked_by)
