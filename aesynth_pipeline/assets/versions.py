"""Code versions: each hashes every parameter an asset depends on, directly or through the
assets it reads.

Dagster marks an asset stale when its own code version changes, but its downstream assets
only once it has been rematerialised. Hashing upstream parameters too makes a changed
parameter mark every asset it reaches stale at once, so "Materialize unsynced" in the UI,
`make refresh` and a stale-only schedule all recompute exactly what the change affects.
"""

from aesynth_pipeline.domain.modes import MODE_SPECS
from aesynth_pipeline.settings import Settings

# Bump when an asset's logic changes in a way that changes its output.
LOGIC_VERSION = "2"

# What the raw attendances depend on: the mock's parameters, or your own file and its domain.
ATTENDANCE_PARAMETERS = ("rows", "seed", "mock_profile", "attendances", "domain")
DEIDENTIFIED_PARAMETERS = (*ATTENDANCE_PARAMETERS, "imd_deciles", "pseudonym_key")
SPLIT_PARAMETERS = (*DEIDENTIFIED_PARAMETERS, "holdout_share")
# What every mode's description depends on besides its own parameters: the declared domain.
DOMAIN_PARAMETERS = ("time_in_ae_edges", "domain")
EVALUATION_PARAMETERS = ("association_threshold",)
GATE_PARAMETERS = ("gate_tolerance_1way", "gate_tolerance_2way", "gate_standard_errors")


def directory_parameters(settings: Settings) -> tuple[str, ...]:
    return ("postcodes",) if settings.postcodes else ("seed", "postcode_count")


def code_version(settings: Settings, *parameters: str) -> str:
    """The version for an asset whose output depends on these parameters (and the directory)."""
    names = sorted({*directory_parameters(settings), *parameters})
    return f"{LOGIC_VERSION}.{settings.fingerprint(*names)}"


def description_version(settings: Settings, mode: str) -> str:
    return code_version(
        settings, *SPLIT_PARAMETERS, *DOMAIN_PARAMETERS, *MODE_SPECS[mode].parameters
    )


def synthetic_version(settings: Settings, mode: str) -> str:
    return code_version(
        settings,
        *SPLIT_PARAMETERS,
        *DOMAIN_PARAMETERS,
        *MODE_SPECS[mode].parameters,
        "synthetic_rows",
    )


def evaluation_version(settings: Settings) -> str:
    every_mode = [name for mode in settings.modes for name in MODE_SPECS[mode].parameters]
    return code_version(
        settings,
        *SPLIT_PARAMETERS,
        *DOMAIN_PARAMETERS,
        "modes",
        *every_mode,
        "synthetic_rows",
        *EVALUATION_PARAMETERS,
        *GATE_PARAMETERS,
    )
