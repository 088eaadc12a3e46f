"""benchmarks/RESULTS.md as sections: each benchmark rewrites its own "## " section and
leaves the others as they were."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return (
        f"{os.cpu_count()} cores, {memory / 2**30:.0f} GiB memory, Python "
        f"{platform.python_version()}, {platform.system()} {platform.machine()}"
    )


def command_line() -> str:
    """How the benchmark was started, with absolute paths made relative to the repository, or
    named by their file name alone outside it: one machine's folders mean nothing in the
    project's results."""
    words = []
    for word in sys.argv:
        path = Path(word)
        # A relative path can lead out of the repository as well ("../elsewhere/run.sh").
        if not path.is_absolute() and not path.exists():
            words.append(word)
        elif path.resolve().is_relative_to(REPOSITORY):
            words.append(str(path.resolve().relative_to(REPOSITORY)))
        else:
            words.append(f".../{path.name}")
    return " ".join(["python", *words])


def section_bounds(lines: list[str], heading: str) -> tuple[int, int]:
    """Where the "## " section `heading` starts and ends among `lines`; (len, len) when it is
    missing."""
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), len(lines))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return start, end


def with_section(document: str, heading: str, body: str) -> str:
    """`document` with the section `heading` holding `body`, in place of its earlier version,
    or appended when it had none."""
    lines = document.rstrip("\n").split("\n") if document.strip() else []
    start, end = section_bounds(lines, heading)
    before, after = "\n".join(lines[:start]).rstrip("\n"), "\n".join(lines[end:])
    section = f"{heading}\n\n{body.strip()}"
    return "\n\n".join(part for part in (before, section, after) if part) + "\n"


def write_section(path: Path, heading: str, body: str) -> None:
    existing = path.read_text() if path.exists() else ""
    path.write_text(with_section(existing, heading, body))
