"""Blocking asset checks: a failed check stops every asset downstream of the bad data."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pandera.pandas as pa

from aesynth_pipeline import columns as c
from aesynth_pipeline import schemas
from aesynth_pipeline.assets.keys import (
    DEIDENTIFIED,
    DEIDENTIFIED_HOLDOUT,
    DEIDENTIFIED_TRAIN,
    DISCLOSURE_RISK,
    EVALUATION_REPORT,
    HOSPITAL_AE_DATA,
    HOSPITAL_AE_DATA_LSOA,
    HOSPITAL_AE_QUARANTINE,
    LONDON_POSTCODES,
    RELEASE_GATE_CHECK,
    RELEASE_RULE_CHECK_PREFIX,
    description_key,
    synthetic_key,
)
from aesynth_pipeline.domain.attributes import bayesian_network, network_attributes
from aesynth_pipeline.domain.deidentify import KEPT_GENDERS
from aesynth_pipeline.domain.document import markdown_table
from aesynth_pipeline.domain.gate import (
    RULES,
    GateThresholds,
    Rule,
    marginal_judgements,
    mode_verdicts,
    recommendation,
    release_gate,
)
from aesynth_pipeline.domain.modes import MODES, promises
from aesynth_pipeline.settings import Settings

# Raw-zone failures are reported by column, rule and count only: their values may identify
# a patient, so they never reach the check's metadata.
SCHEMA_BY_ASSET: dict[dg.AssetKey, tuple[type[pa.DataFrameModel], bool]] = {
    LONDON_POSTCODES: (schemas.LondonPostcodes, True),
    HOSPITAL_AE_DATA: (schemas.HospitalAeData, False),
    HOSPITAL_AE_DATA_LSOA: (schemas.HospitalAeDataLsoa, False),
    HOSPITAL_AE_QUARANTINE: (schemas.HospitalAeQuarantine, False),
    DEIDENTIFIED: (schemas.HospitalAeDeidentified, True),
    DEIDENTIFIED_TRAIN: (schemas.HospitalAeDeidentified, True),
    DEIDENTIFIED_HOLDOUT: (schemas.HospitalAeDeidentified, True),
    **{synthetic_key(mode): (schemas.synthetic_schema(mode), True) for mode in MODES},
    DISCLOSURE_RISK: (schemas.DisclosureRisk, True),
    EVALUATION_REPORT: (schemas.EvaluationMetrics, True),
}

_EXAMPLES_PER_RULE = 5
_COLUMN_SET_CHECKS = ("column_in_schema", "column_in_dataframe")
# Schema checks judge a stored asset as it is, so the IO manager hands it over without its
# own column test (see io_managers.py).
READS_AS_STORED = "aesynth/reads_as_stored"


def schema_failures(
    model: type[pa.DataFrameModel], frame: pd.DataFrame, show_values: bool
) -> pd.DataFrame | None:
    """One row per broken rule (column, rule, failing rows), or None when the frame conforms."""
    try:
        # In place: the models neither coerce nor add columns, so this leaves the frame as it
        # is, and spares pandera's defensive copy (0.3 s for a million rows of text).
        model.validate(frame, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases.assign(
            check=lambda f: f["check"].astype(str),
            failure_case=lambda f: f["failure_case"].astype(str),
        )
        # A missing or unexpected column is reported against the table; name the column.
        cases["column"] = (
            cases["column"]
            .where(~cases["check"].isin(_COLUMN_SET_CHECKS), cases["failure_case"])
            .fillna("(table)")
            .astype(str)
        )
        summary = cases.groupby(["column", "check"], sort=False).agg(
            failing_rows=("failure_case", "size"),
            first_values=("failure_case", lambda v: ", ".join(v.head(_EXAMPLES_PER_RULE))),
        )
        summary = summary.reset_index()
        if not show_values:
            summary = summary.drop(columns="first_values")
        return summary
    return None


def _schema_check(asset_key: dg.AssetKey, model: type[pa.DataFrameModel], show_values: bool):
    @dg.asset_check(
        asset=asset_key,
        name=f"conforms_to_{model.__name__}",
        blocking=True,
        op_tags={READS_AS_STORED: "true"},
        description=f"Every row satisfies the {model.__name__} schema: {model.__doc__}",
    )
    def conforms(frame: pd.DataFrame) -> dg.AssetCheckResult:
        failures = schema_failures(model, frame, show_values)
        if failures is None:
            return dg.AssetCheckResult(passed=True, metadata={"rows checked": len(frame)})
        return dg.AssetCheckResult(
            passed=False,
            description=f"{int(failures['failing_rows'].sum())} failure(s) of the "
            f"{model.__name__} schema",
            metadata={
                "rows checked": len(frame),
                "broken rules": dg.MetadataValue.md(markdown_table(failures)),
            },
        )

    return conforms


@dg.asset_check(
    asset=DEIDENTIFIED,
    blocking=True,
    additional_ins={
        "attendances": dg.AssetIn(HOSPITAL_AE_DATA),
        "joined": dg.AssetIn(HOSPITAL_AE_DATA_LSOA),
        "quarantined": dg.AssetIn(HOSPITAL_AE_QUARANTINE),
    },
    description="No attendance is lost: raw rows = de-identified rows + rows removed for a "
    "rare gender + quarantined rows.",
)
def rows_reconcile(
    deidentified: pd.DataFrame,
    attendances: pd.DataFrame,
    joined: pd.DataFrame,
    quarantined: pd.DataFrame,
) -> dg.AssetCheckResult:
    removed_by_gender = int((~joined[c.GENDER].isin(KEPT_GENDERS)).sum())
    accounted = len(deidentified) + removed_by_gender + len(quarantined)
    return dg.AssetCheckResult(
        passed=accounted == len(attendances),
        metadata={
            "raw rows": len(attendances),
            "de-identified rows": len(deidentified),
            "removed by gender": removed_by_gender,
            "quarantined": len(quarantined),
            "unaccounted": len(attendances) - accounted,
        },
    )


def _quarantine_check(limit: float) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=HOSPITAL_AE_QUARANTINE,
        name="quarantine_share_within_limit",
        blocking=True,
        additional_ins={"joined": dg.AssetIn(HOSPITAL_AE_DATA_LSOA)},
        description=f"At most {limit:.0%} of attendances are set aside by the postcode join; "
        "more means the postcode directory does not fit the data.",
    )
    def quarantine_share_within_limit(
        quarantined: pd.DataFrame, joined: pd.DataFrame
    ) -> dg.AssetCheckResult:
        total = len(quarantined) + len(joined)
        share = len(quarantined) / total if total else 0.0
        return dg.AssetCheckResult(
            passed=share <= limit,
            description=None
            if share <= limit
            else f"{share:.1%} of attendances quarantined, above the {limit:.0%} limit "
            "(AESYNTH_MAX_QUARANTINE_SHARE)",
            metadata={"quarantined share": share, "limit": limit, "quarantined": len(quarantined)},
        )

    return quarantine_share_within_limit


def network_problems(description: dict, degree: int) -> list[str]:
    """What is wrong with a correlated description's Bayesian network, if anything."""
    problems = []
    missing = sorted(set(c.DEIDENTIFIED_COLUMNS) - network_attributes(description))
    if missing:
        problems.append(f"attributes missing from the network: {missing}")
    crowded = [child for child, parents in bayesian_network(description) if len(parents) > degree]
    if crowded:
        problems.append(f"nodes with more than k={degree} parents: {crowded}")
    return problems


def _network_check(degree: int) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=description_key("correlated"),
        name="network_covers_every_attribute",
        blocking=True,
        description=f"The Bayesian network holds every attribute, each with at most k={degree} "
        "parents.",
    )
    def network_covers_every_attribute(description: dict) -> dg.AssetCheckResult:
        problems = network_problems(description, degree)
        return dg.AssetCheckResult(
            passed=not problems,
            metadata={"problems": "; ".join(problems) or "none", "k": degree},
        )

    return network_covers_every_attribute


def _rule_check(
    rule: Rule, thresholds: GateThresholds, modes: tuple[str, ...]
) -> dg.AssetChecksDefinition:
    judged = [mode for mode in modes if promises()[mode] >= rule.promise]

    # Not blocking: a mode that breaks a rule is not released, but another mode may be; the
    # release gate below decides.
    @dg.asset_check(
        asset=EVALUATION_REPORT,
        name=f"{RELEASE_RULE_CHECK_PREFIX}{rule.name}",
        description=f"Release rule, judging {', '.join(judged)} mode: {rule.description}",
    )
    def rule_check(metrics: pd.DataFrame) -> dg.AssetCheckResult:
        gate = release_gate(metrics, thresholds, promises())
        verdicts = gate[gate["rule"] == rule.name]
        failing = verdicts[~verdicts["passed"]]
        return dg.AssetCheckResult(
            passed=failing.empty,
            severity=dg.AssetCheckSeverity.WARN,
            # One line per failing mode, naming the figure and its limit.
            description="\n".join(f"{row.mode} mode: {row.reason}" for row in failing.itertuples())
            or f"passes for {', '.join(verdicts['mode'])} mode",
            metadata={
                "failing modes": ", ".join(failing["mode"]) or "none",
                "verdicts": dg.MetadataValue.md(markdown_table(verdicts)),
            },
        )

    return rule_check


def _release_gate_check(thresholds: GateThresholds) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=EVALUATION_REPORT,
        name=RELEASE_GATE_CHECK,
        blocking=True,
        description="Release gate: a mode that keeps what the most ambitious mode that ran "
        "promises passes every release rule that applies to it, and is the one to release.",
    )
    def release_gate_check(metrics: pd.DataFrame) -> dg.AssetCheckResult:
        judgements = marginal_judgements(metrics, thresholds)
        gate = release_gate(metrics, thresholds, promises(), judgements)
        decision = recommendation(mode_verdicts(gate, judgements, promises()))
        if decision.mode is not None:
            return dg.AssetCheckResult(
                passed=True,
                description=f"releases {decision.mode} mode: {decision.reason}",
                metadata={"released mode": decision.mode},
            )
        # The reason, then one line per rule a mode that could have been released broke:
        # what the UI and the command line show of a blocked release.
        return dg.AssetCheckResult(
            passed=False,
            description="\n".join([f"Release blocked: {decision.reason}", *decision.blocked_by]),
            metadata={"released mode": "none"},
        )

    return release_gate_check


def build_checks(settings: Settings) -> list[dg.AssetChecksDefinition]:
    thresholds = settings.gate_thresholds()
    unselected = {synthetic_key(mode) for mode in MODES if mode not in settings.modes}
    return [
        *(
            _schema_check(key, model, show)
            for key, (model, show) in SCHEMA_BY_ASSET.items()
            if key not in unselected
        ),
        rows_reconcile,
        _quarantine_check(settings.max_quarantine_share),
        *([_network_check(settings.bn_degree)] if "correlated" in settings.modes else []),
        *(
            _rule_check(rule, thresholds, settings.modes)
            for rule in RULES.values()
            # A rule that judges none of the modes that run would pass without judging.
            if any(promises()[mode] >= rule.promise for mode in settings.modes)
        ),
        _release_gate_check(thresholds),
    ]
