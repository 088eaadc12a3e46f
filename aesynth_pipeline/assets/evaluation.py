"""The evaluation report: fidelity, utility and privacy of every synthetic dataset."""

import dagster as dg
import pandas as pd

from aesynth_pipeline.assets.keys import (
    DEIDENTIFIED_HOLDOUT,
    DEIDENTIFIED_TRAIN,
    EVALUATION_REPORT,
    synthetic_key,
)
from aesynth_pipeline.assets.versions import evaluation_version
from aesynth_pipeline.columns import DEIDENTIFIED_COLUMNS, TIME_IN_AE
from aesynth_pipeline.domain.evaluate import (
    evaluate,
    normalised_mutual_information,
    release_gate,
    time_bin_edges,
)
from aesynth_pipeline.domain.plots import (
    histogram_comparison,
    marginal_distance_chart,
    mutual_information_heatmaps,
    utility_chart,
)
from aesynth_pipeline.domain.report import (
    Figure,
    build_document,
    render_html,
    render_markdown,
    summary_markdown,
)
from aesynth_pipeline.domain.synthesise import MODES
from aesynth_pipeline.lake import lake_path, write_atomically
from aesynth_pipeline.settings import Settings

REPORTS_FOLDER = "reports"
REPORT_NAME = "evaluation_report"
FIGURES_FOLDER = "evaluation_report_figures"


def build_evaluation_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=EVALUATION_REPORT,
        ins={
            "training": dg.AssetIn(DEIDENTIFIED_TRAIN),
            "holdout": dg.AssetIn(DEIDENTIFIED_HOLDOUT),
            **{f"synthetic_{mode}": dg.AssetIn(synthetic_key(mode)) for mode in MODES},
        },
        group_name="evaluation",
        kinds={"pandas", "parquet", "html"},
        code_version=evaluation_version(settings),
    )
    def evaluation_report(
        context: dg.AssetExecutionContext,
        training: pd.DataFrame,
        holdout: pd.DataFrame,
        **synthetic: pd.DataFrame,
    ) -> dg.Output[pd.DataFrame]:
        """How faithful, useful and safe each synthetic dataset is, against the real hold-out.

        The asset is the tidy metrics table (mode, family, metric, columns, value, reference);
        the human report is written beside it as HTML (self-contained) and Markdown under the
        lake's reports/ folder.
        """
        by_mode = {mode: synthetic[f"synthetic_{mode}"] for mode in MODES}
        metrics = evaluate(training, holdout, by_mode, settings.seed, progress=context.log.info)
        thresholds = settings.gate_thresholds()
        gate = release_gate(metrics, thresholds)
        context.log.info("drawing the report's figures")
        figures, histograms = _figures(training, by_mode, metrics)
        facts = {
            "training records": len(training),
            "hold-out records": len(holdout),
            "ε": settings.epsilon,
            "k": settings.bn_degree,
            "seed": settings.seed,
        }
        document = build_document(metrics, gate, thresholds, facts, figures, histograms)
        paths = _write_report(document, settings)
        failed = gate[~gate["passed"]]
        return dg.Output(
            metrics,
            metadata={
                "summary": dg.MetadataValue.md(summary_markdown(metrics, gate, thresholds)),
                "release gate": "pass"
                if failed.empty
                else "fail: " + ", ".join(f"{r.mode} ({r.rule})" for r in failed.itertuples()),
                "report (HTML)": dg.MetadataValue.path(str(paths["html"])),
                "report (Markdown)": dg.MetadataValue.path(str(paths["md"])),
                "metrics": len(metrics),
            },
        )

    return [evaluation_report]


def _figures(
    training: pd.DataFrame, by_mode: dict[str, pd.DataFrame], metrics: pd.DataFrame
) -> tuple[dict[str, Figure], dict[str, list[Figure]]]:
    edges = time_bin_edges(training[TIME_IN_AE])
    training_information = normalised_mutual_information(training, edges)
    figures = {
        "marginal_distances": Figure(
            "marginal_distances",
            "Mean total variation distance of 1-, 2- and 3-way marginals; the black mark is "
            "what the real hold-out scores.",
            marginal_distance_chart(metrics),
        ),
        "utility": Figure(
            "utility",
            "Classifier scores when trained on synthetic data, relative to training on real "
            "data, both tested on the hold-out.",
            utility_chart(metrics),
        ),
    }
    histograms = {}
    for mode, synthetic in by_mode.items():
        figures[f"mutual_information_{mode}"] = Figure(
            f"mutual_information_{mode}",
            f"Pairwise normalised mutual information: training data (left), {mode} mode (right).",
            mutual_information_heatmaps(
                training_information,
                normalised_mutual_information(synthetic, edges),
                mode,
            ),
        )
        histograms[mode] = [
            Figure(
                f"histogram_{mode}_{index}",
                f"{column}: training data (left), {mode} mode (right).",
                histogram_comparison(training[column], synthetic[column], mode),
            )
            for index, column in enumerate(DEIDENTIFIED_COLUMNS)
        ]
    return figures, histograms


def _write_report(document, settings: Settings) -> dict[str, object]:
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
