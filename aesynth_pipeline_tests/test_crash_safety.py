"""A writer killed mid-write (SIGKILL, no chance to clean up) never leaves a partial file
under an asset's name: the previous version stays readable and complete."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import dagster as dg
import numpy as np
import pandas as pd
from upath import UPath

from aesynth_pipeline.io_managers import ParquetIOManager
from aesynth_pipeline.lake import write_atomically

# Rewrites a large asset through the real IO manager until it is killed.
WRITER = """
import sys
import dagster as dg, numpy as np, pandas as pd
from upath import UPath
from aesynth_pipeline.io_managers import ParquetIOManager
lake = UPath(sys.argv[1])
frame = pd.DataFrame({"value": np.arange(20_000_000)})
manager = ParquetIOManager(base_path=lake)
context = dg.build_output_context(asset_key=dg.AssetKey("big"))
while True:
    manager.dump_to_path(context, frame, lake / "big.parquet")
"""


def test_a_killed_write_leaves_the_previous_version_whole(tmp_path):
    lake = UPath(tmp_path)
    previous = pd.DataFrame({"value": np.arange(3)})
    manager = ParquetIOManager(base_path=lake)
    context = dg.build_output_context(asset_key=dg.AssetKey("big"))
    manager.dump_to_path(context, previous, lake / "big.parquet")

    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)])
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".big.parquet.*.tmp")):
            assert writer.poll() is None, "the writer died on its own"
            assert time.monotonic() < deadline, "the writer never started writing"
            time.sleep(0.005)
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait()

    assert writer.returncode == -signal.SIGKILL
    assert list(tmp_path.glob(".big.parquet.*.tmp")), "killed part-way through a write"
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "big.parquet"), previous)

    # The next write of the asset clears what the killed writer left behind.
    manager.dump_to_path(context, previous.assign(value=7), lake / "big.parquet")
    assert [path.name for path in tmp_path.iterdir()] == ["big.parquet"]


def test_a_live_writers_temporary_file_is_left_alone(tmp_path):
    lake = UPath(tmp_path)
    # This process is alive, so a temporary file in its name is work in progress.
    in_progress = tmp_path / f".big.parquet.{socket.gethostname()}-{os.getpid()}.0a1b.tmp"
    in_progress.write_bytes(b"half written")
    manager = ParquetIOManager(base_path=lake)
    context = dg.build_output_context(asset_key=dg.AssetKey("big"))
    manager.dump_to_path(context, pd.DataFrame({"value": [1]}), lake / "big.parquet")
    assert in_progress.read_bytes() == b"half written"


# Imports the lake's code, then forks a writer that dies part-way through a write, as step
# processes forked from a server do (the multiprocess executor's fork server, a Celery
# worker). In a process of its own: this one has JAX's threads, which forking could deadlock.
FORKED_WRITER = """
import os, sys
from upath import UPath
from aesynth_pipeline.lake import write_atomically

def die_mid_write(temporary):
    temporary.write_bytes(b"half written")
    os._exit(0)

child = os.fork()
if child == 0:
    write_atomically(UPath(sys.argv[1]) / "asset.parquet", die_mid_write)
os.waitpid(child, 0)
print(child)
"""


def test_a_forked_writer_names_its_leftovers_after_itself(tmp_path):
    # A leftover named after the live server it was forked from would never be cleared.
    forked = subprocess.run(
        [sys.executable, "-c", FORKED_WRITER, str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
    )
    [leftover] = tmp_path.glob(".asset.parquet.*.tmp")
    assert f"-{forked.stdout.strip()}." in leftover.name

    write_atomically(UPath(tmp_path) / "asset.parquet", lambda path: path.write_bytes(b"whole"))
    assert [path.name for path in tmp_path.iterdir()] == ["asset.parquet"]
