"""Markdown for Dagster metadata, which the web UI renders."""

import pandas as pd


def markdown_table(frame: pd.DataFrame) -> str:
    def row(values) -> str:
        return "| " + " | ".join(str(v).replace("|", "\\|") for v in values) + " |"

    lines = [row(frame.columns), row("---" for _ in frame.columns)]
    lines += [row(values) for values in frame.itertuples(index=False)]
    return "\n".join(lines)
