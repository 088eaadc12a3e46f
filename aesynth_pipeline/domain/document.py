"""Documents for people, as blocks in reading order, rendered as Markdown (figures as
linked PNG files) or as one self-contained HTML page (figures embedded).

Tables are DataFrames; a cell whose text starts with a verdict word ("good", "fail", ...)
is marked with a symbol in Markdown and a coloured dot in HTML.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

import pandas as pd

GREEN, AMBER, RED = "good", "fair", "poor"
PASS, FAIL = "pass", "fail"
# Verdict words lead their cell; Markdown marks them with a symbol, HTML with a colour.
_MARKDOWN_MARKS = {GREEN: "🟢", AMBER: "🟠", RED: "🔴", PASS: "✅", FAIL: "❌"}


@dataclass(frozen=True)
class Figure:
    name: str
    caption: str
    png: bytes


@dataclass
class Document:
    """Blocks in reading order: ("h", level, text), ("p", text), ("table", frame),
    ("figure", Figure) and ("details", summary, [Figure])."""

    blocks: list[tuple] = field(default_factory=list)

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def paragraph(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, frame: pd.DataFrame) -> None:
        self.blocks.append(("table", frame))

    def figure(self, figure: Figure) -> None:
        self.blocks.append(("figure", figure))

    def details(self, summary: str, figures: list[Figure]) -> None:
        self.blocks.append(("details", summary, figures))

    def figures(self) -> list[Figure]:
        found = []
        for block in self.blocks:
            if block[0] == "figure":
                found.append(block[1])
            elif block[0] == "details":
                found.extend(block[2])
        return found


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:.4g}"
    return str(value)


def _verdict(text: str) -> str | None:
    """The verdict word a cell starts with, if any."""
    first = text.split(" ", 1)[0].rstrip(":")
    return first if first in _MARKDOWN_MARKS else None


def _markdown_cell(value: object) -> str:
    text = _cell(value)
    verdict = _verdict(text)
    return f"{_MARKDOWN_MARKS[verdict]} {text}" if verdict else text


def _html_cell(value: object) -> str:
    text = _cell(value)
    verdict = _verdict(text)
    if verdict:
        return f'<td class="verdict {verdict}">{html.escape(text)}</td>'
    return f"<td>{html.escape(text)}</td>"


def render_markdown(document: Document, figure_folder: str) -> str:
    """Markdown that links its figures as PNG files in `figure_folder` (relative)."""
    lines: list[str] = []
    for block in document.blocks:
        kind = block[0]
        if kind == "h":
            lines += ["#" * block[1] + " " + block[2], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "table":
            lines += [markdown_table(block[1]), ""]
        elif kind == "figure":
            lines += [f"![{block[1].caption}]({figure_folder}/{block[1].name}.png)", ""]
        elif kind == "details":
            lines += [f"**{block[1]}**", ""]
            lines += [f"![{f.caption}]({figure_folder}/{f.name}.png)" for f in block[2]]
            lines.append("")
    return "\n".join(lines)


def markdown_table(frame: pd.DataFrame) -> str:
    """A Markdown table; Dagster's web UI renders these in metadata."""

    def row(values) -> str:
        return "| " + " | ".join(_markdown_cell(v).replace("|", "\\|") for v in values) + " |"

    lines = [row(frame.columns), row("---" for _ in frame.columns)]
    lines += [row(values) for values in frame.itertuples(index=False)]
    return "\n".join(lines)


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #1d2330; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #d0d4dc; padding: 0.3em 0.6em; text-align: left; }
th { background: #eef1f6; }
img { max-width: 100%; }
figure { margin: 1.5em 0; }
figcaption { color: #5b6375; font-size: 0.9em; }
details { margin: 0.5em 0; }
td.verdict::before { content: ""; display: inline-block; width: 0.8em; height: 0.8em;
                     border-radius: 50%; margin-right: 0.4em; vertical-align: -0.05em; }
td.good::before, td.pass::before { background: #2e9d4f; }
td.fair::before { background: #e89a1c; }
td.poor::before, td.fail::before { background: #d2372c; }
"""


def render_html(document: Document) -> str:
    """One self-contained HTML page: styles inline, every figure embedded."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>aesynth evaluation report</title>", f"<style>{_STYLE}</style>",
             "</head><body>"]  # fmt: skip
    for block in document.blocks:
        kind = block[0]
        if kind == "h":
            parts.append(f"<h{block[1]}>{html.escape(block[2])}</h{block[1]}>")
        elif kind == "p":
            parts.append(f"<p>{html.escape(block[1])}</p>")
        elif kind == "table":
            parts.append(_html_table(block[1]))
        elif kind == "figure":
            parts.append(_html_figure(block[1]))
        elif kind == "details":
            inner = "".join(_html_figure(f) for f in block[2])
            parts.append(f"<details><summary>{html.escape(block[1])}</summary>{inner}</details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_table(frame: pd.DataFrame) -> str:
    header = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(_html_cell(v) for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _html_figure(figure: Figure) -> str:
    encoded = base64.b64encode(figure.png).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(figure.caption)}" '
        f'src="data:image/png;base64,{encoded}"><figcaption>{html.escape(figure.caption)}'
        "</figcaption></figure>"
    )
