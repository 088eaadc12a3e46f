"""What `make refresh` recomputes: stale assets and everything downstream of them.

An asset is stale when it has never been materialised, or when its last materialisation
recorded another code version than the one the current parameters give it (code versions
hash every parameter an asset depends on, see `assets/versions.py`). `launch.py` executes
that selection, and prints it in Dagster's asset selection syntax.
"""

import dagster as dg

CODE_VERSION_TAG = "dagster/code_version"


def stale_keys(defs: dg.Definitions, instance: dg.DagsterInstance) -> set[dg.AssetKey]:
    stale = set()
    for assets_def in defs.resolve_all_asset_specs():
        event = instance.get_latest_materialization_event(assets_def.key)
        if event is None or event.asset_materialization is None:
            stale.add(assets_def.key)
            continue
        if event.asset_materialization.tags.get(CODE_VERSION_TAG) != assets_def.code_version:
            stale.add(assets_def.key)
    return stale


def refresh_keys(defs: dg.Definitions, instance: dg.DagsterInstance) -> set[dg.AssetKey]:
    """Stale assets and everything downstream of them."""
    stale = stale_keys(defs, instance)
    if not stale:
        return set()
    selection = dg.AssetSelection.assets(*stale).downstream()
    return set(selection.resolve(defs.resolve_asset_graph()))


def selection_text(keys: set[dg.AssetKey]) -> str:
    return " or ".join(f'key:"{key.to_user_string()}"' for key in sorted(keys))
