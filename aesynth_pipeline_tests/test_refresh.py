"""Stale-only reruns, counted in the Dagster instance: a changed ε recomputes exactly the
noisy modes and the report; an unchanged rerun recomputes nothing."""

from __future__ import annotations

from collections import Counter

import dagster as dg

from aesynth_pipeline.assets.keys import EVALUATION_REPORT, description_key, synthetic_key
from aesynth_pipeline.definitions import build_definitions
from aesynth_pipeline.domain.modes import modes_using
from aesynth_pipeline.refresh import refresh_keys, selection_text, stale_keys
from aesynth_pipeline.settings import Settings

from .conftest import SMALL_RUN


def materialisations(instance: dg.DagsterInstance, defs: dg.Definitions) -> Counter:
    counts = Counter()
    for spec in defs.resolve_all_asset_specs():
        records = instance.fetch_materializations(spec.key, limit=100).records
        counts[spec.key] = len(records)
    return counts


def run(defs: dg.Definitions, instance: dg.DagsterInstance, selection: str | None = None):
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance,
        asset_selection=list(dg.AssetSelection.from_string(selection).resolve(
            defs.resolve_asset_graph()
        )) if selection else None,
    )  # fmt: skip
    assert result.success


KEYS_OF_A_MODE = (description_key, synthetic_key)


# A mode that spends ε and one that does not; aim would only make the run longer.
MODES = ("random", "correlated")


def test_changing_epsilon_refreshes_exactly_the_noisy_modes_and_the_report(tmp_path):
    before_change = build_definitions(Settings(data_lake=str(tmp_path), modes=MODES, **SMALL_RUN))
    with dg.instance_for_test() as instance:
        run(before_change, instance)
        assert stale_keys(before_change, instance) == set()
        assert selection_text(refresh_keys(before_change, instance)) == ""

        after_change = build_definitions(
            Settings(data_lake=str(tmp_path), epsilon=0.5, modes=MODES, **SMALL_RUN)
        )
        expected = {
            *(
                key(mode)
                for mode in modes_using("epsilon")
                if mode in MODES
                for key in (description_key, synthetic_key)
            ),
            EVALUATION_REPORT,
        }
        assert refresh_keys(after_change, instance) == expected

        before = materialisations(instance, after_change)
        run(after_change, instance, selection_text(refresh_keys(after_change, instance)))
        after = materialisations(instance, after_change)
        assert {key for key in after if after[key] != before[key]} == expected
        assert all(after[key] == before[key] + 1 for key in expected)
        assert refresh_keys(after_change, instance) == set()


def test_everything_is_refreshed_in_an_empty_instance(tmp_path):
    defs = build_definitions(Settings(data_lake=str(tmp_path)))
    with dg.instance_for_test() as instance:
        keys = refresh_keys(defs, instance)
    selected = dg.AssetSelection.from_string(selection_text(keys)).resolve(
        defs.resolve_asset_graph()
    )
    assert selected == keys == {spec.key for spec in defs.resolve_all_asset_specs()}
