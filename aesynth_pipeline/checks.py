"""The asset checks, each run inside the step of the asset it judges, on the value the step
has just stored: the data is checked without being read back, and without a step (a process,
in parallel runs) of its own. Each check has a spec, which its asset declares, and a function
that judges the value. A failed blocking check fails its asset's step, which stops every asset
downstream of the bad data."""

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
    HOSPITAL_AE_REJECTED,
    LONDON_POSTCODES,
    RELEASE_GATE_CHECK,
    RELEASE_RULE_CHECK_PREFIX,
    description_key,
    synthetic_key,
)
from aesynth_pipeline.domain.attributes import bayesian_network, network_attributes
from aesynth_pipeline.domain.contract import MOCK_DOMAIN, AttendanceDomain
from aesynth_pipeline.domain.deidentify import KEPT_GENDERS
from aesynth_pipeline.domain.document import markdown_table
from aesynth_pipeline.domain.extract import Extract
from aesynth_pipeline.domain.gate import RULES, Recommendation
from aesynth_pipeline.domain.modes import MODES, Mode, promises

# Raw-zone failures are reported by column, rule and count only: their values may identify
# a patient, so they never reach the check's metadata.
SCHEMA_BY_ASSET: dict[dg.AssetKey, tuple[type[pa.DataFrameModel], bool]] = {
    LONDON_POSTCODES: (schemas.LondonPostcodes, True),
    HOSPITAL_AE_DATA: (schemas.HospitalAeData, False),
    HOSPITAL_AE_REJECTED: (schemas.HospitalAeRejected, False),
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


def schema_failures(
    model: type[pa.DataFrameModel] | pa.DataFrameSchema, frame: pd.DataFrame, show_values: bool
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


def schema_spec(key: dg.AssetKey) -> dg.AssetCheckSpec:
    model, _ = SCHEMA_BY_ASSET[key]
    return dg.AssetCheckSpec(
        f"conforms_to_{model.__name__}",
        asset=key,
        blocking=True,
        description=f"Every row satisfies the {model.__name__} schema: {model.__doc__}",
    )


def schema_result(
    key: dg.AssetKey, frame: pd.DataFrame, domain: AttendanceDomain = MOCK_DOMAIN
) -> dg.AssetCheckResult:
    """The asset's schema check, with the rules of the declared `domain`."""
    model, show_values = SCHEMA_BY_ASSET[key]
    check_name = schema_spec(key).name
    failures = schema_failures(schemas.declared(model, domain), frame, show_values)
    if failures is None:
        return dg.AssetCheckResult(
            asset_key=key, check_name=check_name, passed=True, metadata={"rows checked": len(frame)}
        )
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=check_name,
        passed=False,
        description=f"{int(failures['failing_rows'].sum())} failure(s) of the "
        f"{model.__name__} schema",
        metadata={
            "rows checked": len(frame),
            "broken rules": dg.MetadataValue.md(markdown_table(failures)),
        },
    )


ROWS_RECONCILE = dg.AssetCheckSpec(
    "rows_reconcile",
    asset=DEIDENTIFIED,
    blocking=True,
    description="No attendance is lost: raw rows = de-identified rows + rows removed for a "
    "rare gender + rows quarantined by the postcode join + rows set aside for breaking the "
    "data contract.",
)


def rows_reconcile(
    deidentified: pd.DataFrame,
    attendances: pd.DataFrame,
    joined: pd.DataFrame,
    quarantined: pd.DataFrame,
    rejected: pd.DataFrame,
) -> dg.AssetCheckResult:
    # Counted again from the join, not taken from the de-identification's own count.
    removed_by_gender = int((~joined[c.GENDER].isin(KEPT_GENDERS)).sum())
    accounted = len(deidentified) + removed_by_gender + len(quarantined) + len(rejected)
    raw = len(attendances) + len(rejected)
    return dg.AssetCheckResult(
        asset_key=DEIDENTIFIED,
        check_name=ROWS_RECONCILE.name,
        passed=accounted == raw,
        metadata={
            "raw rows": raw,
            "de-identified rows": len(deidentified),
            "removed by gender": removed_by_gender,
            "quarantined": len(quarantined),
            "set aside by the data contract": len(rejected),
            "unaccounted": raw - accounted,
        },
    )


def quarantine_share_spec(limit: float) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        "quarantine_share_within_limit",
        asset=HOSPITAL_AE_QUARANTINE,
        blocking=True,
        description=f"At most {limit:.0%} of attendances are set aside by the postcode join; "
        "more means the postcode directory does not fit the data.",
    )


def quarantine_share(
    quarantined: pd.DataFrame, joined: pd.DataFrame, limit: float
) -> dg.AssetCheckResult:
    total = len(quarantined) + len(joined)
    share = len(quarantined) / total if total else 0.0
    return dg.AssetCheckResult(
        asset_key=HOSPITAL_AE_QUARANTINE,
        check_name=quarantine_share_spec(limit).name,
        passed=share <= limit,
        description=None
        if share <= limit
        else f"{share:.1%} of attendances quarantined, above the {limit:.0%} limit "
        "(AESYNTH_MAX_QUARANTINE_SHARE)",
        metadata={"quarantined share": share, "limit": limit, "quarantined": len(quarantined)},
    )


def rejected_share_spec(limit: float) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        "rejected_share_within_limit",
        asset=HOSPITAL_AE_REJECTED,
        blocking=True,
        description=f"Every row of the attendances file is accounted for (kept or set aside "
        f"for a broken rule of the data contract), and at most {limit:.0%} are set aside; "
        "more means the file does not keep the contract.",
    )


def rejected_share(extract: Extract, limit: float) -> dg.AssetCheckResult:
    accounted = len(extract.attendances) + len(extract.rejected) == extract.rows_read
    within = extract.rejected_share <= limit
    return dg.AssetCheckResult(
        asset_key=HOSPITAL_AE_REJECTED,
        check_name=rejected_share_spec(limit).name,
        passed=accounted and within,
        description=None
        if within
        else f"{extract.rejected_share:.1%} of attendances break the data contract, above the "
        f"{limit:.0%} limit (AESYNTH_MAX_REJECTED_SHARE)",
        metadata={
            "rows read": extract.rows_read,
            "kept": len(extract.attendances),
            "set aside": len(extract.rejected),
            "unaccounted": extract.rows_read - len(extract.attendances) - len(extract.rejected),
            "set-aside share": extract.rejected_share,
            "limit": limit,
        },
    )


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


def network_spec(degree: int) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        "network_covers_every_attribute",
        asset=description_key("correlated"),
        blocking=True,
        description=f"The Bayesian network holds every attribute, each with at most k={degree} "
        "parents.",
    )


def network_result(description: dict, degree: int) -> dg.AssetCheckResult:
    problems = network_problems(description, degree)
    return dg.AssetCheckResult(
        asset_key=description_key("correlated"),
        check_name=network_spec(degree).name,
        passed=not problems,
        metadata={"problems": "; ".join(problems) or "none", "k": degree},
    )


def judged_rules(modes: tuple[Mode, ...]) -> dict[str, list[Mode]]:
    """Each release rule that judges a mode that runs, with the modes it judges: a rule that
    judges none of them would pass without judging."""
    judged = {
        name: [mode for mode in modes if promises()[mode] >= rule.promise]
        for name, rule in RULES.items()
    }
    return {name: chosen for name, chosen in judged.items() if chosen}


def rule_specs(modes: tuple[Mode, ...]) -> list[dg.AssetCheckSpec]:
    # Not blocking: a mode that breaks a rule is not released, but another mode may be; the
    # release gate decides.
    return [
        dg.AssetCheckSpec(
            f"{RELEASE_RULE_CHECK_PREFIX}{name}",
            asset=EVALUATION_REPORT,
            description=f"Release rule, judging {', '.join(judged)} mode: "
            f"{RULES[name].description}",
        )
        for name, judged in judged_rules(modes).items()
    ]


def rule_results(gate: pd.DataFrame, modes: tuple[Mode, ...]) -> list[dg.AssetCheckResult]:
    """Each rule's verdicts, from the gate the report computed."""
    results = []
    for name in judged_rules(modes):
        verdicts = gate[gate["rule"] == name]
        failing = verdicts[~verdicts["passed"]]
        results.append(
            dg.AssetCheckResult(
                asset_key=EVALUATION_REPORT,
                check_name=f"{RELEASE_RULE_CHECK_PREFIX}{name}",
                passed=failing.empty,
                severity=dg.AssetCheckSeverity.WARN,
                # One line per failing mode, naming the figure and its limit.
                description="\n".join(
                    f"{row.mode} mode: {row.reason}" for row in failing.itertuples()
                )
                or f"passes for {', '.join(verdicts['mode'])} mode",
                metadata={
                    "failing modes": ", ".join(failing["mode"]) or "none",
                    "verdicts": dg.MetadataValue.md(markdown_table(verdicts)),
                },
            )
        )
    return results


RELEASE_GATE = dg.AssetCheckSpec(
    RELEASE_GATE_CHECK,
    asset=EVALUATION_REPORT,
    blocking=True,
    description="Release gate: a mode that keeps what the most ambitious mode that ran "
    "promises passes every release rule that applies to it, and is the one to release.",
)


def release_gate_result(decision: Recommendation) -> dg.AssetCheckResult:
    """The gate's verdict, from the recommendation the report computed."""
    if decision.mode is not None:
        return dg.AssetCheckResult(
            asset_key=EVALUATION_REPORT,
            check_name=RELEASE_GATE_CHECK,
            passed=True,
            description=f"releases {decision.mode} mode: {decision.reason}",
            metadata={"released mode": decision.mode},
        )
    # The reason, then one line per rule a mode that could have been released broke: what
    # the UI and the command line show of a blocked release.
    return dg.AssetCheckResult(
        asset_key=EVALUATION_REPORT,
        check_name=RELEASE_GATE_CHECK,
        passed=False,
        description="\n".join([f"Release blocked: {decision.reason}", *decision.blocked_by]),
        metadata={"released mode": "none"},
    )
