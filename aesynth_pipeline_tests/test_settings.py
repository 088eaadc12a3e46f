"""Parameters come from AESYNTH_* variables, with defaults and errors that name the variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from upath import UPath

from aesynth_pipeline.domain.modes import DEFAULT_ENGINE, MODES
from aesynth_pipeline.lake import write_atomically
from aesynth_pipeline.settings import ENVIRONMENT_VARIABLES, Settings, SettingsError


def test_unset_variables_take_the_documented_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert (settings.rows, settings.seed, settings.postcodes) == (10_000, 42, None)
    assert settings.postcode_count == 50_000
    assert settings.imd_deciles == "national"
    assert settings.pseudonym_key is None
    assert settings.engine == DEFAULT_ENGINE
    assert Path(settings.data_lake) == tmp_path / "data_lake"


def test_variables_override_the_defaults(tmp_path):
    settings = Settings.from_env(
        {
            "AESYNTH_ROWS": "250",
            "AESYNTH_SEED": "7",
            "AESYNTH_POSTCODES": "postcodes.csv",
            "AESYNTH_DATA_LAKE": str(tmp_path / "lake"),
            "AESYNTH_IMD_DECILES": "london",
            "AESYNTH_PSEUDONYM_KEY": "secret",
            "AESYNTH_HOLDOUT_SHARE": "0.25",
            "AESYNTH_EPSILON": "0.5",
            "AESYNTH_BN_DEGREE": "2",
            "AESYNTH_ENGINE": "datasynthesizer",
            "AESYNTH_SYNTHETIC_ROWS": "900",
            "AESYNTH_ASSOCIATION_THRESHOLD": "0.3",
            "AESYNTH_GATE_TOLERANCE_1WAY": "0.05",
            "AESYNTH_GATE_TOLERANCE_2WAY": "0.2",
            "AESYNTH_GATE_STANDARD_ERRORS": "2.5",
            "AESYNTH_NIGHTLY_STALE_ONLY": "true",
            "AESYNTH_DEPLOYMENT": "kubernetes",
            "AESYNTH_MAX_QUARANTINE_SHARE": "0.1",
            "AESYNTH_MOCK_PROFILE": "realistic",
            "AESYNTH_MAX_REJECTED_SHARE": "0.02",
        }
    )
    assert (settings.mock_profile, settings.max_rejected_share) == ("realistic", 0.02)
    assert (settings.holdout_share, settings.epsilon, settings.bn_degree) == (0.25, 0.5, 2)
    assert settings.synthetic_rows == 900
    assert settings.engine == "datasynthesizer"
    assert settings.association_threshold == 0.3
    assert (settings.gate_tolerance_1way, settings.gate_tolerance_2way) == (0.05, 0.2)
    assert settings.gate_standard_errors == 2.5
    assert settings.nightly_stale_only is True
    assert settings.deployment == "kubernetes"
    assert settings.max_quarantine_share == 0.1
    assert (settings.rows, settings.seed, settings.postcodes) == (250, 7, "postcodes.csv")
    assert settings.data_lake == str(tmp_path / "lake")
    assert settings.imd_deciles == "london"
    assert settings.pseudonym_key == "secret"
    assert "secret" not in repr(settings)


def test_your_own_attendances_and_domain_file_are_read_from_absolute_paths(tmp_path, monkeypatch):
    domain = tmp_path / "domain.yaml"
    domain.write_text(
        "arrival_dates: {first: 2024-01-01, last: 2024-01-31}\nhospitals: [Barnet Hospital]\n"
    )
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env(
        {"AESYNTH_ATTENDANCES": "extract.csv", "AESYNTH_DOMAIN": "domain.yaml"}
    )
    assert settings.attendances == str(tmp_path / "extract.csv")
    assert settings.attendance_domain().hospitals == ("Barnet Hospital",)
    assert len(settings.attendance_domain().arrival_dates) == 31
    before = settings.fingerprint("domain")
    domain.write_text(domain.read_text().replace("31", "30"))
    assert settings.fingerprint("domain") != before


def test_storage_urls_are_kept_as_urls():
    assert (
        Settings.from_env({"AESYNTH_DATA_LAKE": "s3://bucket/lake"}).data_lake == "s3://bucket/lake"
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("AESYNTH_ROWS", "ten", "AESYNTH_ROWS must be a whole number, got 'ten'"),
        ("AESYNTH_ROWS", "0", "AESYNTH_ROWS must be at least 1, got 0"),
        ("AESYNTH_SEED", "1.5", "AESYNTH_SEED must be a whole number"),
        ("AESYNTH_IMD_DECILES", "regional", "AESYNTH_IMD_DECILES must be one of"),
        ("AESYNTH_EPSILON", "-1", "AESYNTH_EPSILON must be 0 or positive, got -1"),
        ("AESYNTH_EPSILON", "nan", "AESYNTH_EPSILON must be a finite number, got 'nan'"),
        ("AESYNTH_EPSILON", "lots", "AESYNTH_EPSILON must be a number"),
        ("AESYNTH_BN_DEGREE", "0", "AESYNTH_BN_DEGREE must be at least 1 and below 8, got 0"),
        ("AESYNTH_BN_DEGREE", "8", "AESYNTH_BN_DEGREE must be at least 1 and below 8, got 8"),
        ("AESYNTH_DELTA", "1", "AESYNTH_DELTA must be between 0 and 1 \\(exclusive\\), got 1"),
        ("AESYNTH_AIM_MAX_MODEL_SIZE_MB", "0", "AESYNTH_AIM_MAX_MODEL_SIZE_MB must be positive"),
        ("AESYNTH_ENGINE", "turbo", "AESYNTH_ENGINE must be one of .*'fast'.*got 'turbo'"),
        ("AESYNTH_HOLDOUT_SHARE", "1", "AESYNTH_HOLDOUT_SHARE must be between 0 and 1"),
        ("AESYNTH_SYNTHETIC_ROWS", "0", "AESYNTH_SYNTHETIC_ROWS must be at least 1"),
        ("AESYNTH_NIGHTLY_STALE_ONLY", "maybe", "AESYNTH_NIGHTLY_STALE_ONLY must be true or"),
        ("AESYNTH_DEPLOYMENT", "mainframe", "AESYNTH_DEPLOYMENT must be one of"),
        ("AESYNTH_DEPLOYMENT", "cluster", "AESYNTH_DEPLOYMENT=cluster needs AESYNTH_CELERY_BROKER"),
        (
            "AESYNTH_MOCK_PROFILE",
            "fancy",
            "AESYNTH_MOCK_PROFILE must be one of \\['tutorial', 'realistic'\\], got 'fancy'",
        ),
        ("AESYNTH_MAX_REJECTED_SHARE", "-0.1", "AESYNTH_MAX_REJECTED_SHARE must be between"),
        ("AESYNTH_MAX_QUARANTINE_SHARE", "2", "AESYNTH_MAX_QUARANTINE_SHARE must be between"),
        ("AESYNTH_ASSOCIATION_THRESHOLD", "1", "AESYNTH_ASSOCIATION_THRESHOLD must be at least 0"),
        (
            "AESYNTH_GATE_TOLERANCE_2WAY",
            "-0.1",
            "AESYNTH_GATE_TOLERANCE_2WAY must be 0 or positive",
        ),
        ("AESYNTH_MODES", "random,turbo", "AESYNTH_MODES must name one or more of"),
        ("AESYNTH_MODES", "random,random", "AESYNTH_MODES must name one or more of.*each once"),
        (
            "AESYNTH_TIME_IN_AE_EDGES",
            "1,60,30",
            "AESYNTH_TIME_IN_AE_EDGES must make usable bins: .*must rise strictly",
        ),
        (
            "AESYNTH_TIME_IN_AE_EDGES",
            "1,sixty",
            "AESYNTH_TIME_IN_AE_EDGES must be whole numbers separated by commas, got '1,sixty'",
        ),
        # A variable an earlier version read is refused, not silently ignored.
        (
            "AESYNTH_GATE_MAX_TVD_2WAY",
            "0.1",
            "AESYNTH_GATE_MAX_TVD_2WAY is no longer used.*AESYNTH_GATE_TOLERANCE_2WAY",
        ),
    ],
)
def test_bad_values_name_the_variable(variable, value, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({variable: value})


def test_fingerprint_tracks_the_postcode_file_and_hides_the_key(tmp_path):
    postcodes = tmp_path / "postcodes.csv"
    postcodes.write_text("Postcode\n")
    settings = Settings(postcodes=str(postcodes), pseudonym_key="secret")
    before = settings.fingerprint("postcodes")
    postcodes.write_text("Postcode\nE5 0QZ\n")
    assert settings.fingerprint("postcodes") != before
    assert "secret" not in settings.fingerprint("pseudonym_key")
    assert settings.fingerprint("pseudonym_key") != Settings(pseudonym_key="other").fingerprint(
        "pseudonym_key"
    )


def test_an_interrupted_write_leaves_the_previous_file_whole(tmp_path):
    target = UPath(tmp_path / "asset.parquet")
    target.write_bytes(b"previous contents")

    def crash_half_way(path: UPath) -> None:
        path.write_bytes(b"half of the new")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, crash_half_way)
    assert target.read_bytes() == b"previous contents"
    assert [p.name for p in tmp_path.iterdir()] == ["asset.parquet"]
    write_atomically(target, lambda path: path.write_bytes(b"new contents"))
    assert target.read_bytes() == b"new contents"


def test_modes_are_chosen_by_name_and_kept_in_the_registry_order():
    assert Settings.from_env({"AESYNTH_MODES": " correlated , random "}).modes == (
        "random",
        "correlated",
    )
    assert Settings.from_env({}).modes == MODES


def test_aim_mode_is_refused_without_noise():
    message = "aim mode cannot run without noise \\(AESYNTH_EPSILON=0\\)"
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"AESYNTH_EPSILON": "0"})
    without_aim = {"AESYNTH_EPSILON": "0", "AESYNTH_MODES": "random,correlated"}
    assert Settings.from_env(without_aim).epsilon == 0


def test_every_bad_variable_is_named_on_one_line():
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"AESYNTH_ROWS": "0", "AESYNTH_ENGINE": "turbo", "AESYNTH_SEED": "x"})
    assert str(raised.value) == (
        "AESYNTH_ROWS must be at least 1, got 0; AESYNTH_SEED must be a whole number, got 'x'; "
        "AESYNTH_ENGINE must be one of ['datasynthesizer', 'fast'], got 'turbo'"
    )


def test_empty_and_blank_variables_take_the_defaults():
    blank = {variable: " " for variable in ENVIRONMENT_VARIABLES.values()}
    assert Settings.from_env(blank) == Settings.from_env({})


def test_the_pseudonym_key_stays_out_of_errors():
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"AESYNTH_PSEUDONYM_KEY": "secret", "AESYNTH_ROWS": "0"})
    assert "secret" not in str(raised.value)
    with pytest.raises(SettingsError, match="AESYNTH_PSEUDONYM_KEY must not be empty$"):
        Settings(pseudonym_key="")


def test_the_brokers_password_stays_out_of_errors_and_printouts():
    broker = {"AESYNTH_DEPLOYMENT": "cluster", "AESYNTH_CELERY_BROKER": "redis://:secret@h/0"}
    assert "secret" not in repr(Settings.from_env(broker))
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**broker, "AESYNTH_ROWS": "0"})
    assert "secret" not in str(raised.value)


def test_settings_built_in_code_ignore_the_environment(monkeypatch):
    monkeypatch.setenv("AESYNTH_ROWS", "5")
    assert Settings().rows == 10_000
    assert Settings.from_env().rows == 5


def test_every_parameter_is_described():
    assert all(field.description for field in Settings.model_fields.values())


def test_the_readme_documents_exactly_the_parameters():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    parameters = readme.split("\n## Parameters\n", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `(AESYNTH_\w+)` \|", parameters, flags=re.MULTILINE)
    assert sorted(documented) == sorted(ENVIRONMENT_VARIABLES.values())
