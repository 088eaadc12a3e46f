"""The evaluation: the de-identified table's own disclosure risk, and the report on the
fidelity, utility and privacy of every synthetic dataset with its release verdict."""

import dagster as dg
import pandas as pd

from aesynth_pipeline.assets.keys import (
    DEIDENTIFIED,
    DEIDENTIFIED_HOLDOUT,
    DEIDENTIFIED_TRAIN,
    DISCLOSURE_RISK,
    EVALUATION_REPORT,
    HTML_REPORT_METADATA,
    VERDICT_METADATA,
    description_key,
    synthetic_key,
)
from aesynth_pipeline.assets.versions import (
    DEIDENTIFIED_PARAMETERS,
    code_version,
    evaluation_version,
)
from aesynth_pipeline.checks import (
    RELEASE_GATE,
    release_gate_result,
    rule_results,
    rule_specs,
    schema_result,
    schema_spec,
)
from aesynth_pipeline.columns import DEIDENTIFIED_COLUMNS
from aesynth_pipeline.domain import ledger
from aesynth_pipeline.domain.disclosure import disclosure_risk
from aesynth_pipeline.domain.document import (
    Document,
    Figure,
    markdown_table,
    render_html,
    render_markdown,
)
from aesynth_pipeline.domain.evaluate import Evaluation, evaluate
from aesynth_pipeline.domain.gate import (
    marginal_judgements,
    mode_verdicts,
    recommendation,
    release_gate,
)
from aesynth_pipeline.domain.metrics import TRAINING_MODE
from aesynth_pipeline.domain.modes import promises
from aesynth_pipeline.domain.plots import (
    histogram_comparisons,
    marginal_distance_chart,
    mutual_information_heatmaps,
    utility_chart,
)
from aesynth_pipeline.domain.report import ReportInputs, build_document, summary_markdown
from aesynth_pipeline.lake import lake_path, write_atomically
from aesynth_pipeline.schemas import synthetic_schema, violating_share
from aesynth_pipeline.settings import Settings

REPORTS_FOLDER = "reports"
REPORT_NAME = "evaluation_report"
FIGURES_FOLDER = "evaluation_report_figures"


def build_evaluation_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=DISCLOSURE_RISK,
        ins={"deidentified": dg.AssetIn(DEIDENTIFIED)},
        group_name="evaluation",
        kinds={"pandas", "parquet"},
        code_version=code_version(settings, *DEIDENTIFIED_PARAMETERS),
        check_specs=[schema_spec(DISCLOSURE_RISK)],
    )
    def deidentified_disclosure_risk(deidentified: pd.DataFrame):
        """How easily a record of the de-identified table stands out by its quasi-identifiers:
        k-anonymity, records in small groups, unique records, l-diversity of Treatment.

        It depends on the de-identified data alone, so a change of ε does not recompute it.
        """
        risk = disclosure_risk(deidentified)
        values = risk.set_index(["quasi_identifiers", "metric"])["value"]
        yield dg.Output(
            risk,
            metadata={
                "k-anonymity": int(values[("quasi-identifiers", "k_anonymity")]),
                "share unique": float(values[("quasi-identifiers", "share_unique")]),
            },
        )
        yield schema_result(DISCLOSURE_RISK, risk)

    @dg.asset(
        key=EVALUATION_REPORT,
        ins={
            "training": dg.AssetIn(DEIDENTIFIED_TRAIN),
            "holdout": dg.AssetIn(DEIDENTIFIED_HOLDOUT),
            "disclosure": dg.AssetIn(DISCLOSURE_RISK),
            **{f"synthetic_{mode}": dg.AssetIn(synthetic_key(mode)) for mode in settings.modes},
            **{f"description_{mode}": dg.AssetIn(description_key(mode)) for mode in settings.modes},
        },
        group_name="evaluation",
        kinds={"pandas", "parquet", "html"},
        code_version=evaluation_version(settings),
        check_specs=[schema_spec(EVALUATION_REPORT), *rule_specs(settings.modes), RELEASE_GATE],
    )
    def evaluation_report(
        context: dg.AssetExecutionContext,
        training: pd.DataFrame,
        holdout: pd.DataFrame,
        disclosure: pd.DataFrame,
        **synthetic_and_descriptions,
    ):
        """How faithful, useful and safe each synthetic dataset is, with the release verdict
        and the mode to release.

        Fidelity is judged against its floor (what a perfect synthesiser scores at the same
        sizes), utility against models trained on real data, privacy against the real
        hold-out. The asset is the tidy metrics table; the human report (for the data
        controller, not for publication) is written as HTML and Markdown under the lake's
        reports/ folder.
        """
        by_mode = {mode: synthetic_and_descriptions[f"synthetic_{mode}"] for mode in settings.modes}
        ledgers = {
            mode: synthetic_and_descriptions[f"description_{mode}"]["privacy_ledger"]
            for mode in settings.modes
        }
        violations = {
            mode: violating_share(synthetic_schema(mode), frame, settings.attendance_domain())
            for mode, frame in by_mode.items()
        }
        evaluation = evaluate(
            training,
            holdout,
            by_mode,
            violations,
            settings.seed,
            settings.association_threshold,
            progress=context.log.info,
        )
        thresholds = settings.gate_thresholds()
        judgements = marginal_judgements(evaluation.metrics, thresholds)
        gate = release_gate(evaluation.metrics, thresholds, promises(), judgements)
        verdicts = mode_verdicts(gate, judgements, promises())
        inputs = ReportInputs(
            metrics=evaluation.metrics,
            gate=gate,
            judgements=judgements,
            verdicts=verdicts,
            recommendation=recommendation(verdicts),
            thresholds=thresholds,
            disclosure=disclosure,
            ledgers=ledgers,
            facts={
                "training records": f"{len(training):,}",
                "hold-out records": f"{len(holdout):,}",
                "ε": settings.epsilon,
                "k": settings.bn_degree,
                "engine": settings.engine,
                "seed": settings.seed,
            },
        )
        context.log.info("drawing the report's figures")
        figures, histograms = _figures(training, by_mode, evaluation)
        paths = _write_report(build_document(inputs, figures, histograms), settings)
        yield dg.Output(
            evaluation.metrics,
            metadata={
                "summary": dg.MetadataValue.md(summary_markdown(inputs)),
                "recommended mode": inputs.recommendation.mode or "none",
                VERDICT_METADATA: dg.MetadataValue.json(_verdict_json(inputs)),
                HTML_REPORT_METADATA: dg.MetadataValue.path(str(paths["html"])),
                "report (Markdown)": dg.MetadataValue.path(str(paths["md"])),
                "metrics": len(evaluation.metrics),
                "privacy ledger": dg.MetadataValue.md(markdown_table(ledger.totals_table(ledgers))),
            },
        )
        # The checks judge the figures and the verdict computed above.
        yield schema_result(EVALUATION_REPORT, evaluation.metrics)
        yield from rule_results(gate, settings.modes)
        yield release_gate_result(inputs.recommendation)

    return [deidentified_disclosure_risk, evaluation_report]


def _verdict_json(inputs: ReportInputs) -> dict[str, object]:
    return {
        "recommendation": inputs.recommendation.mode,
        "reason": inputs.recommendation.reason,
        "modes": [
            {
                "mode": verdict.mode,
                "passed": verdict.passed,
                "keeps": verdict.keeps,
                "loses": verdict.loses,
                "failed": list(verdict.failed),
            }
            for verdict in inputs.verdicts
        ],
    }


def _figures(
    training: pd.DataFrame, by_mode: dict[str, pd.DataFrame], evaluation: Evaluation
) -> tuple[dict[str, Figure], dict[str, list[Figure]]]:
    """The report's figures, each drawn once; the heatmaps from the evaluation's matrices.
    Each attribute's histograms (and the heatmaps) of every mode come from one figure, whose
    training half is drawn once."""
    figures = {
        "marginal_distances": Figure(
            "marginal_distances",
            "Mean total variation distance of 1-, 2- and 3-way marginals; the black mark is "
            "the floor, what a perfect synthesiser scores at the same sizes.",
            marginal_distance_chart(evaluation.metrics),
        ),
        "utility": Figure(
            "utility",
            "Classifier scores when trained on synthetic data, relative to training on real "
            "data, both tested on the hold-out.",
            utility_chart(evaluation.metrics),
        ),
    }
    heatmaps = mutual_information_heatmaps(
        evaluation.information[TRAINING_MODE],
        {mode: evaluation.information[mode] for mode in by_mode},
    )
    pictures = {
        column: histogram_comparisons(
            training[column], {mode: synthetic[column] for mode, synthetic in by_mode.items()}
        )
        for column in DEIDENTIFIED_COLUMNS
    }
    histograms = {}
    for mode in by_mode:
        figures[f"mutual_information_{mode}"] = Figure(
            f"mutual_information_{mode}",
            f"Pairwise normalised mutual information: training data (left), {mode} mode (right).",
            heatmaps[mode],
        )
        histograms[mode] = [
            Figure(
                f"histogram_{mode}_{index}",
                f"{column}: training data (left), {mode} mode (right).",
                pictures[column][mode],
            )
            for index, column in enumerate(DEIDENTIFIED_COLUMNS)
        ]
    return figures, histograms


def _write_report(document: Document, settings: Settings) -> dict[str, object]:
    folder = lake_path(settings.data_lake) / REPORTS_FOLDER
    for figure in document.figures():
        path = folder / FIGURES_FOLDER / f"{figure.name}.png"
        write_atomically(path, lambda target, png=figure.png: target.write_bytes(png))
    paths = {"html": folder / f"{REPORT_NAME}.html", "md": folder / f"{REPORT_NAME}.md"}
    html_text = render_html(document)
    markdown_text = render_markdown(document, FIGURES_FOLDER)
    write_atomically(paths["html"], lambda target: target.write_text(html_text, encoding="utf-8"))
    write_atomically(paths["md"], lambda target: target.write_text(markdown_text, encoding="utf-8"))
    return paths
