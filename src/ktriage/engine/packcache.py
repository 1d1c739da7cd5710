"""The compiled-pack cache: a loaded, validated and compiled pack kept on disk, so that a
command does not parse YAML and build the reader's tables on every start.

One file per pack, in the user's cache folder (``platformdirs``; ``KTRIAGE_CACHE_DIR``
overrides it, ``KTRIAGE_PACK_CACHE=off`` turns the cache off). Its name and its header
carry the sha256 of every file of the pack folder, the sha256 of the engine's source and
the Python version; the header also carries the sha256 of the payload. A file is used
only when it is a regular file owned by this user and readable by no one else, and every
one of those matches; anything else (a changed pack, changed code, a truncated or altered
file) is refused and the pack is built again from its YAML and written anew. Files are written
0600 in a 0700 folder, atomically (a temporary file renamed into place). The pack holds no
patient data; a cached pack is never shared between users.

What is kept is what ``load_pack``, ``compile_pack`` and the ``Reader`` build: plain
Python data. durable_rules' ruleset is created from it on every start (its C engine
cannot be saved).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

FORMAT = 1
_MAGIC = b"ktriage-pack-cache\n"


def enabled() -> bool:
    return os.environ.get("KTRIAGE_PACK_CACHE", "").lower() not in ("off", "0", "no")


def cache_dir() -> Path:
    given = os.environ.get("KTRIAGE_CACHE_DIR")
    if given:
        return Path(given)
    import platformdirs

    return Path(platformdirs.user_cache_dir("ktriage", appauthor=False)) / "packs"


def pack_key(root: Path) -> str | None:
    """sha256 over every file of the pack folder (relative path and bytes, sorted by
    path), or None when the folder cannot be read as a whole (the loader then says why).
    """
    digest = hashlib.sha256()
    try:
        files = sorted(p for p in root.rglob("*") if not p.is_dir())
        for path in files:
            if not path.is_file():  # a device, a pipe, a dangling link: never cached
                return None
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            with open(path, "rb") as fh:
                digest.update(fh.read())
            digest.update(b"\0")
    except OSError:
        return None
    return digest.hexdigest()


_code: str | None = None


def code_key() -> str:
    """sha256 of the engine's own source files: a cached pack is refused as soon as the
    code that built it changed (a version number stays the same in a development tree)."""
    global _code
    if _code is None:
        digest = hashlib.sha256()
        here = Path(__file__).parent
        for path in sorted(here.glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        _code = digest.hexdigest()
    return _code


def _header(key: str) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "pack_sha256": key,
        "code_sha256": code_key(),
        "python": sys.version,
    }


def path_for(key: str) -> Path:
    return cache_dir() / f"{key}.pack"


def load(key: str) -> Any | None:
    """The cached object for ``key``, or None when there is none or it is refused."""
    path = path_for(key)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_mode & 0o077
            or (hasattr(os, "getuid") and info.st_uid != os.getuid())
        ):
            return None
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            data = fh.read()
    except OSError:
        return None
    finally:
        if fd >= 0:
            os.close(fd)
    if not data.startswith(_MAGIC):
        return None
    rest = data[len(_MAGIC) :]
    line_end = rest.find(b"\n")
    if line_end < 0:
        return None
    try:
        header = json.loads(rest[:line_end])
    except ValueError:
        return None
    payload = rest[line_end + 1 :]
    expected = {**_header(key), "payload_sha256": hashlib.sha256(payload).hexdigest()}
    if header != expected:
        return None
    try:
        return pickle.loads(payload)
    except Exception:  # a file that passed every check but does not load: rebuild
        return None


def store(key: str, value: Any) -> None:
    """Write ``value`` for ``key`` (0600, atomically). Failing to write is not an error:
    the next start builds the pack again."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        header = {**_header(key), "payload_sha256": hashlib.sha256(payload).hexdigest()}
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".pack")  # 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n")
                fh.write(payload)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path_for(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _prune(folder)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        return


KEEP_FILES = 16


def _prune(folder: Path) -> None:
    """Keep the KEEP_FILES most recently written packs (edited packs and upgrades leave
    old ones behind)."""
    files = sorted(folder.glob("*.pack"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[KEEP_FILES:]:
        old.unlink(missing_ok=True)
