"""The data lake's storage rules: writes that never leave a half-written file, and the
pseudonym key kept in the raw zone."""

from __future__ import annotations

import os
import secrets
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


def write_atomically(path: UPath, write: Callable[[UPath], None], private: bool = False) -> None:
    """Call `write` on a temporary sibling of `path`, then move it into place in one step.

    A crash or error part-way leaves the previous file untouched. On object stores a single
    upload is already all-or-nothing, so the file is written in place there. A private file
    (the raw zone's) is readable by its owner only, in a folder only its owner can open.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not _is_local(path):
        write(path)
        return
    if private:
        os.chmod(path.parent.path, PRIVATE_FOLDER_MODE)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(temporary)
        if private:
            os.chmod(temporary.path, PRIVATE_FILE_MODE)
        os.replace(temporary.path, path.path)
    finally:
        if temporary.exists():
            temporary.unlink()


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
