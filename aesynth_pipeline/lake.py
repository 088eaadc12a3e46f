"""The data lake's storage rules: writes that never leave a half-written file, and the
pseudonym key kept in the raw zone."""

from __future__ import annotations

import errno
import os
import secrets
import socket
import uuid
from collections.abc import Callable

from upath import UPath

RAW_ZONE = "raw"
PSEUDONYM_KEY_FILE = "pseudonym_key"
PRIVATE_FILE_MODE = 0o600
PRIVATE_FOLDER_MODE = 0o700


def lake_path(location: str) -> UPath:
    return UPath(location)


def _is_local(path: UPath) -> bool:
    return path.protocol in ("", "file", "local")


class LakeWriteError(OSError):
    """The data lake cannot be written where it is configured."""


def write_atomically(path: UPath, write: Callable[[UPath], None], private: bool = False) -> None:
    """Call `write` on a temporary sibling of `path`, then move it into place in one step.

    A crash or error part-way leaves the previous file untouched. On object stores a single
    upload is already all-or-nothing, so the file is written in place there. A private file
    (the raw zone's) is readable by its owner only, in a folder only its owner can open.
    """
    make_folder(path.parent, for_file=path)
    if not _is_local(path):
        write(path)
        return
    if private:
        os.chmod(path.parent.path, PRIVATE_FOLDER_MODE)
    temporary = path.with_name(f".{path.name}.{_writer()}.{uuid.uuid4().hex}.tmp")
    try:
        try:
            write(temporary)
        except (PermissionError, IsADirectoryError, NotADirectoryError) as error:
            raise _unwritable(path, error) from error
        if private:
            os.chmod(temporary.path, PRIVATE_FILE_MODE)
        os.replace(temporary.path, path.path)
    finally:
        if temporary.exists():
            temporary.unlink()
    _remove_leftovers(path)


def _writer() -> str:
    """Temporary files carry their writer's host and process ID, so a later write can tell
    the leftovers of a killed writer from the work in progress of a live one. Asked at each
    write: step processes forked from a server that imported this module (the multiprocess
    executor's, a Celery worker's) each have their own ID."""
    return f"{socket.gethostname()}-{os.getpid()}"


def _remove_leftovers(path: UPath) -> None:
    """Delete temporary siblings of `path` left by writers on this host that no longer run."""
    host = socket.gethostname()
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        writer = leftover.name[len(path.name) + 2 :].rsplit(".", 2)[0]
        writer_host, _, pid = writer.rpartition("-")
        if writer_host == host and pid.isdigit() and not _process_is_running(int(pid)):
            leftover.unlink(missing_ok=True)


def _process_is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def make_folder(folder: UPath, for_file: UPath | None = None) -> None:
    """Create a lake folder, or say plainly that the lake cannot be written there."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _unwritable(for_file or folder, error) from error


def _unwritable(path: UPath, error: OSError) -> LakeWriteError:
    reason = error.strerror or os.strerror(error.errno or errno.EIO) or str(error)
    return LakeWriteError(
        f"cannot write to the data lake at {path}: {reason} ({error.filename or path}); "
        "point AESYNTH_DATA_LAKE at a folder this user can write to"
    )


def lake_pseudonym_key(lake: UPath) -> bytes:
    """The lake's own pseudonym key, created at random on first use and kept in the raw zone.

    Used when AESYNTH_PSEUDONYM_KEY is not set, so hospital IDs stay the same from run to run
    without anyone having to manage a secret.
    """
    key_path = lake / RAW_ZONE / PSEUDONYM_KEY_FILE
    if not key_path.exists():
        key_path.parent.mkdir(parents=True, exist_ok=True)
        created = secrets.token_hex(32)
        if _is_local(key_path):
            os.chmod(key_path.parent.path, PRIVATE_FOLDER_MODE)
            temporary = key_path.with_name(f".{key_path.name}.{uuid.uuid4().hex}.tmp")
            temporary.write_text(created)
            os.chmod(temporary.path, PRIVATE_FILE_MODE)
            try:
                # A hard link fails if another run created the key first; theirs is kept.
                os.link(temporary.path, key_path.path)
            except FileExistsError:
                pass
            finally:
                temporary.unlink()
        else:
            key_path.write_text(created)
    key = key_path.read_text().strip()
    if not key:
        raise ValueError(f"{key_path}: the pseudonym key file is empty")
    return key.encode("utf-8")
