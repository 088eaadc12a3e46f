"""Asset keys, named once. Keys under `raw/` hold patient-identifying values."""

import dagster as dg

from aesynth_pipeline.lake import RAW_ZONE

LONDON_POSTCODES = dg.AssetKey("london_postcodes")
HOSPITAL_AE_DATA = dg.AssetKey([RAW_ZONE, "hospital_ae_data"])
HOSPITAL_AE_DATA_LSOA = dg.AssetKey([RAW_ZONE, "hospital_ae_data_lsoa"])
HOSPITAL_AE_QUARANTINE = dg.AssetKey([RAW_ZONE, "hospital_ae_quarantine"])
DEIDENTIFIED = dg.AssetKey("hospital_ae_deidentified")
