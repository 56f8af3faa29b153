"""All-or-nothing writes: build beside the target, then rename over it.

Temporary siblings are named ``.{name}.{pid}.XXXXXXXX.tmp`` (and ``.{name}.{pid}.old`` for a folder
set aside), so that a later write to the same target can tell litter of a killed process from a write
still in progress, and remove only the former.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from hourglass.errors import HourglassError

STALE_SECONDS = 24 * 3600  # a temporary sibling this old is litter whatever its pid says (pids are reused)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it replaces ``path`` in one rename.

    A symbolic link is followed: the file it points to is replaced and the link is kept.
    """
    target = _resolve(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the user expects an ordinary file
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary folder; on success it takes the place of ``path``.

    An existing folder is swapped with the new one in a single ``renameat2(RENAME_EXCHANGE)`` call on
    Linux, so a crash at any instant leaves either the complete old folder or the complete new one.
    Elsewhere the old folder is renamed aside first and removed once the new one is in place.
    A symbolic link is followed: the folder it points to is replaced and the link is kept.
    """
    target = _resolve(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        if not target.exists():
            os.replace(tmp, target)
        elif _exchange(tmp, target):
            pass  # tmp now holds the old folder and is removed below
        else:
            old = target.with_name(f".{target.name}.{os.getpid()}.old")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
    finally:
        _remove(tmp)


def remove_stale_siblings(path: str | os.PathLike) -> list[Path]:
    """Remove temporary siblings of ``path`` that an earlier, killed write left; returns what was removed.

    Only names this module gives (``.{name}.{pid}.XXXXXXXX.tmp``, ``.{name}.{pid}.old``) are touched, and
    only when that process is gone or the entry is older than a day. Names from before pids were
    recorded (``.{name}.XXXXXXXX.tmp``) go by age alone.
    """
    target = Path(path)
    name = re.escape(target.name)
    ours = re.compile(rf"\.{name}\.(?P<pid>\d+)\.(?:[a-z0-9_]{{8}}\.tmp|old)")
    legacy = re.compile(rf"\.{name}\.[a-z0-9_]{{8}}\.tmp")
    removed: list[Path] = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        match = ours.fullmatch(entry.name)
        if match is None and not legacy.fullmatch(entry.name):
            continue
        try:
            age = time.time() - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if age > STALE_SECONDS or (match is not None and not _alive(int(match["pid"]))):
            _remove(Path(entry.path))
            removed.append(Path(entry.path))
    return removed


def _resolve(path: str | os.PathLike) -> Path:
    """The path itself, or where it finally points when it is a symbolic link (renaming over a link
    would replace the link, not what the user meant to update)."""
    target = Path(path)
    if target.name in ("", ".", ".."):  # "." and ".." cannot be renamed over; "/" is no place to write
        raise HourglassError(f"{os.fspath(path) or repr(os.fspath(path))}: names no new file or folder")
    return Path(os.path.realpath(target)) if target.is_symlink() else target


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _remove(path: Path) -> None:
    """Delete a file, link or folder tree without following links out of it."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False where the system cannot."""
    libc = _libc()
    renameat2 = getattr(libc, "renameat2", None) if libc is not None else None
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return done == 0


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
