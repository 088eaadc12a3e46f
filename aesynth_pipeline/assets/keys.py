"""Asset keys, named once. Keys under `raw/` hold patient-identifying values."""

import dagster as dg

from aesynth_pipeline.lake import RAW_ZONE

LONDON_POSTCODES = dg.AssetKey("london_postcodes")
HOSPITAL_AE_DATA = dg.AssetKey([RAW_ZONE, "hospital_ae_data"])
HOSPITAL_AE_REJECTED = dg.AssetKey([RAW_ZONE, "hospital_ae_rejected"])
HOSPITAL_AE_DATA_LSOA = dg.AssetKey([RAW_ZONE, "hospital_ae_data_lsoa"])
HOSPITAL_AE_QUARANTINE = dg.AssetKey([RAW_ZONE, "hospital_ae_quarantine"])
DEIDENTIFIED = dg.AssetKey("hospital_ae_deidentified")
DEIDENTIFIED_TRAIN = dg.AssetKey("deidentified_train")
DEIDENTIFIED_HOLDOUT = dg.AssetKey("deidentified_holdout")


def description_key(mode: str) -> dg.AssetKey:
    return dg.AssetKey(f"description_{mode}")


def synthetic_key(mode: str) -> dg.AssetKey:
    return dg.AssetKey(f"synthetic_{mode}")


DISCLOSURE_RISK = dg.AssetKey("deidentified_disclosure_risk")
EVALUATION_REPORT = dg.AssetKey("evaluation_report")

# Names the command line reads back from a run (run_outcome.py): the release gate's check
# (and the rules' checks beside it), and the evaluation report's verdict and HTML report in
# its metadata.
RELEASE_GATE_CHECK = "release_gate"
RELEASE_RULE_CHECK_PREFIX = "release_rule_"
VERDICT_METADATA = "release verdict"
HTML_REPORT_METADATA = "report (HTML)"
