"""The Dagster layer: thin assets that load inputs, call one domain function and report."""
