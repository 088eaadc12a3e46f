"""What `make run` and `make refresh` show once a run starts: one line per asset as it is
materialised, then a summary and an exit status that tell a blocked release (3) from a
crash (1) and a success (0), with Dagster's own output in a log file and no traceback on the
terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from aesynth_pipeline.definitions import build_definitions
from aesynth_pipeline.run_outcome import release_verdict_lines
from aesynth_pipeline.settings import Settings

from .test_launch import REPOSITORY, instance_home

# A release gate that fails for sure (no allowance beyond each distribution's floor, nor for
# sampling error), and one that every mode passes at 2,000 rows. Both set gate parameters
# only, which enter only the evaluation report's code version: switching from one to the
# other makes only the report stale.
FAILING_GATE = {"AESYNTH_GATE_TOLERANCE_1WAY": "0", "AESYNTH_GATE_TOLERANCE_2WAY": "0",
                "AESYNTH_GATE_STANDARD_ERRORS": "0"}  # fmt: skip
PASSING_GATE = {"AESYNTH_GATE_TOLERANCE_1WAY": "1", "AESYNTH_GATE_TOLERANCE_2WAY": "1",
                "AESYNTH_GATE_STANDARD_ERRORS": "1000"}  # fmt: skip
ROWS = 2_000
# What the launcher reports does not depend on which modes ran; two keep the run short.
MODES = ("random", "correlated")
PROGRESS_LINE = re.compile(r"  ✓ (\S+) +\d+\.\d s")
MAKE_ERROR_3 = re.compile(r"make: \*\*\* \[Makefile:\d+: run\] Error 3")


def pipeline_environment(home: Path, lake: Path, **variables: str) -> dict[str, str]:
    """This process's environment without our parameters, and without the outer make's
    variables when the suite runs under `make test`, so the inner make reports as a user's."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AESYNTH_") and name not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}
    }
    return {
        **inherited,
        "DAGSTER_HOME": str(home),
        "AESYNTH_DATA_LAKE": str(lake),
        "AESYNTH_ROWS": str(ROWS),
        "AESYNTH_PSEUDONYM_KEY": "k",
        # DataSynthesizer's correlated mode alone would take a third of the run.
        "AESYNTH_ENGINE": "fast",
        "AESYNTH_MODES": ",".join(MODES),
        **variables,
    }


def make(target: str, home: Path, environment: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "-C", str(REPOSITORY), target, f"DAGSTER_HOME={home}"],
        env=environment,
        capture_output=True,
        text=True,
        # Generous: a 2,000-row run takes about a minute, far longer on a loaded machine.
        timeout=900,
    )


def labelled(stdout: str, label: str) -> str:
    """The value of a summary line such as `Log:        /path`."""
    [value] = [
        line.removeprefix(label).strip() for line in stdout.splitlines() if line.startswith(label)
    ]
    return value


def progress_assets(stdout: str) -> list[str]:
    return [match[1] for line in stdout.splitlines() if (match := PROGRESS_LINE.fullmatch(line))]


def failed_evaluations(home: Path) -> dict[str, dg.AssetCheckEvaluation]:
    """The last run's failed check evaluations, by check name."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs(limit=1)
        entries = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    evaluations = [entry.dagster_event.asset_check_evaluation_data for entry in entries]
    return {e.check_name: e for e in evaluations if not e.passed}


def assert_quiet_terminal(result: subprocess.CompletedProcess) -> None:
    """Nothing of Dagster's event log, and no traceback, reaches the terminal."""
    terminal = result.stdout + result.stderr
    assert "Traceback" not in terminal
    assert " - DEBUG - " not in terminal
    assert "ASSET_MATERIALIZATION" not in terminal


def test_make_run_names_the_failed_release_rules_then_refresh_recomputes_only_the_report(
    tmp_path,
):
    home, lake = instance_home(tmp_path / "home"), tmp_path / "lake"
    every_asset = {
        spec.key.to_user_string()
        for spec in build_definitions(
            Settings(data_lake=str(lake), modes=MODES)
        ).resolve_all_asset_specs()
    }

    blocked = make("run", home, pipeline_environment(home, lake, **FAILING_GATE))

    assert blocked.returncode == 2, blocked.stderr
    assert MAKE_ERROR_3.fullmatch(blocked.stderr.splitlines()[-1])
    assert len(blocked.stderr.splitlines()) == 1
    assert_quiet_terminal(blocked)
    assert sorted(progress_assets(blocked.stdout)) == sorted(every_asset)
    failed = failed_evaluations(home)
    lines = blocked.stdout.splitlines()
    # The gate's reason, then one line per rule a mode that could have been released broke.
    gate = failed.pop("release_gate")
    reasons = gate.description.splitlines()
    assert reasons[0].startswith("Release blocked: no mode that keeps")
    positions = [lines.index(f"  ✗ {reason}") for reason in reasons]
    assert positions == sorted(positions)
    # Each failed rule (a warning, not a failed step) names the modes that broke it.
    assert failed and all(name.startswith("release_rule_") for name in failed)
    for evaluation in failed.values():
        for reason in evaluation.description.splitlines():
            mode = reason.split(" mode: ")[0]
            assert any(reason.split(" mode: ")[1] in line for line in lines), (mode, reason)
    assert "Release verdict per mode:" in lines
    assert labelled(blocked.stdout, "Recommended mode:")
    report = Path(labelled(blocked.stdout, "Report:"))
    assert report.is_file() and report.suffix == ".html" and lake in report.parents
    assert labelled(blocked.stdout, "Data lake:") == str(lake)
    log = Path(labelled(blocked.stdout, "Log:"))
    assert log.parent == home / "logs" and log.name.endswith("-everything.log")
    assert f"Dagster's output goes to {log}" in lines
    dagster_output = log.read_text()
    assert "ASSET_MATERIALIZATION" in dagster_output
    assert "DagsterAssetCheckFailedError" in dagster_output

    refreshed = make("refresh", home, pipeline_environment(home, lake, **PASSING_GATE))

    assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
    assert refreshed.stderr == ""
    assert_quiet_terminal(refreshed)
    assert progress_assets(refreshed.stdout) == ["evaluation_report"]
    assert re.search(r"^Run succeeded in \d+\.\d s \(run [0-9a-f-]+\)\.$", refreshed.stdout, re.M)
    assert "✗" not in refreshed.stdout
    assert "Release verdict per mode:" in refreshed.stdout.splitlines()
    assert Path(labelled(refreshed.stdout, "Report:")) == report
    assert labelled(refreshed.stdout, "Data lake:") == str(lake)
    log = Path(labelled(refreshed.stdout, "Log:"))
    assert log.name.endswith("-stale.log") and "RUN_SUCCESS" in log.read_text()


def test_a_failed_step_exits_1_naming_the_step_and_its_error(tmp_path):
    home, lake = instance_home(tmp_path / "home"), tmp_path / "lake"
    postcodes = tmp_path / "London postcodes.csv"
    postcodes.write_text("Postcode,In Use?\nE1 6AN,Yes\n")

    result = subprocess.run(
        [sys.executable, "-m", "aesynth_pipeline.launch", "everything"],
        env=pipeline_environment(home, lake, AESYNTH_POSTCODES=str(postcodes)),
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert_quiet_terminal(result)
    lines = result.stdout.splitlines()
    [failed] = [line for line in lines if line.startswith("  ✗ ")]
    assert failed.startswith("  ✗ london_postcodes: ") and str(postcodes) in failed
    assert re.search(r"^Run failed after \d+\.\d s \(run [0-9a-f-]+\):$", result.stdout, re.M)
    assert not progress_assets(result.stdout)
    dagster_output = Path(labelled(result.stdout, "Log:")).read_text()
    assert "STEP_FAILURE" in dagster_output and str(postcodes) in dagster_output


VERDICT = {
    "recommendation": "correlated",
    "reason": "It keeps the most and passes every rule.",
    "modes": [
        {"mode": "random", "passed": True, "keeps": "the schema", "loses": "every distribution",
         "failed": []},
        {"mode": "correlated", "passed": False, "keeps": "pairs", "loses": "rare triples",
         "failed": ["copies 2% of training records", "too close to training records"]},
    ],
}  # fmt: skip


def test_the_release_verdict_shows_each_mode_its_failed_rules_and_the_recommendation():
    metadata = {"release verdict": dg.MetadataValue.json(VERDICT)}
    assert release_verdict_lines(metadata) == [
        "Release verdict per mode:",
        "  ✓ random      releasable",
        "      keeps: the schema",
        "      loses: every distribution",
        "  ✗ correlated  not releasable",
        "      keeps: pairs",
        "      loses: rare triples",
        "      breaks copies 2% of training records",
        "      breaks too close to training records",
        "Recommended mode: correlated — It keeps the most and passes every rule.",
    ]


@pytest.mark.parametrize(
    "metadata",
    [{}, {"release verdict": dg.MetadataValue.text("pass")}],
    ids=["absent", "not-json"],
)
def test_a_report_without_a_release_verdict_shows_none(metadata):
    assert release_verdict_lines(metadata) == []
