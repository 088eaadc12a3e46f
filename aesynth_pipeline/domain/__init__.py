"""The pipeline's domain logic: plain functions on pandas DataFrames, with no Dagster in sight."""
