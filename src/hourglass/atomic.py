"""All-or-nothing writes: build beside the target, then rename over it.

Temporary siblings are named ``.{name}.{pid}.XXXXXXXX.tmp`` (and ``.{name}.{pid}.old`` for a folder
set aside), so that a later write to the same target can tell litter of a killed process from a write
still in progress, and remove only the former.

The rule for folders the user already has: hourglass replaces a folder only when everything in it is
hourglass's own (the file names that kind of folder holds, and the temporary siblings and locks of those);
a folder holding anything else is refused with one line naming those entries, and nothing in it changes.
Refusing rather than carrying the user's entries across keeps a model's swap atomic: entries moved into
the temporary folder would, after a crash, sit in a sibling that the next write removes as litter.

A write in progress holds ``lock(target)``: an OS lock on ``.{name}.lock`` beside the target that records
who holds it, so that a second writer stops at once and says who is writing. The kernel drops the lock
when its holder dies, so a lock file left by a killed process is simply taken over.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

from hourglass.errors import HourglassError

try:
    import fcntl
except ImportError:  # Windows: writes go unlocked
    fcntl = None  # type: ignore[assignment]

STALE_SECONDS = 24 * 3600  # a temporary sibling this old is litter whatever its pid says (pids are reused)
# A temporary sibling or lock of the entry ``base``: what ``foreign_entries`` counts as that entry's.
_LITTER = re.compile(r"\.(?P<base>.+?)\.(?:\d+\.[a-z0-9_]{8}\.tmp|\d+\.old|[a-z0-9_]{8}\.tmp|lock)")
Own = Collection[str] | Callable[[str], bool]  # the names hourglass writes into a kind of folder
# Files a file browser drops into any folder it shows: caches, not the user's work, so no reason to refuse.
BROWSER_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
_held: dict[str, int] = {}  # targets this process holds the lock of, and how many times


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
def atomic_dir(path: str | os.PathLike, own: Own = ()) -> Iterator[Path]:
    """Yield a fresh temporary folder; on success it takes the place of ``path``.

    ``own``: the entry names hourglass writes into this kind of folder. An existing folder holding any
    other entry is refused (``refuse_foreign``) before the work and again at the swap, so nothing the
    user put there is ever removed; with no ``own`` only an empty folder is replaced. The target is
    locked (``lock``) for the whole write.

    An existing folder is swapped with the new one in a single ``renameat2(RENAME_EXCHANGE)`` call on
    Linux, so a crash at any instant leaves either the complete old folder or the complete new one.
    Elsewhere the old folder is renamed aside first and removed once the new one is in place.
    A symbolic link is followed: the folder it points to is replaced and the link is kept.
    """
    target = _resolve(path)
    with lock(target, shown=path):
        if target.exists() and not target.is_dir():
            raise HourglassError(f"{os.fspath(path)}: is a file; give a folder")
        if target.is_dir():
            refuse_foreign(target, own, shown=path)
        remove_stale_siblings(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent))
        os.chmod(tmp, 0o777 & ~_umask())
        try:
            yield tmp
            if not target.exists():
                os.replace(tmp, target)
            elif _exchange(tmp, target):
                # tmp now holds the old folder and is removed below, unless the user put something
                # there while the new one was built: then the old folder goes back, untouched.
                if foreign_entries(tmp, own):
                    _exchange(tmp, target)
                    refuse_foreign(target, own, shown=path)
            else:
                refuse_foreign(target, own, shown=path)
                old = target.with_name(f".{target.name}.{os.getpid()}.old")
                os.replace(target, old)
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
        finally:
            _remove(tmp)


def foreign_entries(folder: str | os.PathLike, own: Own) -> list[str]:
    """The names in ``folder`` that hourglass did not write there: neither in ``own``, nor a temporary
    sibling or lock of a name in it, nor a file browser's cache (``BROWSER_FILES``). Sorted; empty for a
    folder that does not exist."""
    is_own = own if callable(own) else frozenset(own).__contains__
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return []
    except OSError as e:
        raise HourglassError(f"{os.fspath(folder)}: cannot read the folder ({e.strerror})") from None
    litter = [m["base"] if (m := _LITTER.fullmatch(n)) else None for n in names]
    return [
        n
        for n, base in zip(names, litter, strict=True)
        if not (is_own(n) or n in BROWSER_FILES or (base is not None and is_own(base)))
    ]


def refuse_foreign(folder: str | os.PathLike, own: Own, shown: str | os.PathLike | None = None) -> None:
    """Raise one ``HourglassError`` line naming the entries of ``folder`` that hourglass did not write."""
    foreign = foreign_entries(folder, own)
    if not foreign:
        return
    which = "it" if len(foreign) == 1 else "them"
    raise HourglassError(
        f"{os.fspath(shown if shown is not None else folder)}: holds {listing(foreign)}, which hourglass "
        f"did not write and will not replace; move {which} out or choose another folder"
    )


def listing(names: list[str]) -> str:
    """A few entry names for one line of an error: "a, b, c and 4 more"."""
    shown = [n if n.isprintable() else ascii(n) for n in sorted(names)[:3]]
    return ", ".join(shown) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


@contextlib.contextmanager
def lock(path: str | os.PathLike, shown: str | os.PathLike | None = None) -> Iterator[None]:
    """Hold the write lock of ``path`` (a file or folder to be written), or fail at once naming its holder.

    The lock is ``fcntl.flock`` on ``.{name}.lock`` beside the target, which holds the holder's pid,
    command and start time and is removed on release. A process may take the same lock again (a model
    save inside a training that holds its folder). Without ``fcntl`` (Windows) nothing is locked.
    """
    target = _resolve(path)
    key = os.path.realpath(target)
    if key in _held or fcntl is None:
        _held[key] = _held.get(key, 0) + 1
        try:
            yield
        finally:
            _held[key] -= 1
            if not _held[key]:
                del _held[key]
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    file = target.with_name(f".{target.name}.lock")
    fd = _acquire(target, file, os.fspath(shown if shown is not None else path))
    _held[key] = 1
    try:
        yield
    finally:
        del _held[key]
        if fd is not None:
            if _same_file(fd, file):  # removed before the unlock: a waiter sees it gone and makes its own
                file.unlink()
            os.close(fd)


def _acquire(target: Path, file: Path, shown: str) -> int | None:
    """Lock ``file`` for ``target`` and return its descriptor; None where the file system cannot lock.

    The file appears complete, already locked, holding who holds it: it is written and locked under a
    temporary name first and then linked (or, over a lock a dead process left, renamed) into place. So a
    second writer never finds a lock that does not yet say whose it is.
    """
    assert fcntl is not None
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    facts = json.dumps({"pid": os.getpid(), "command": _command(), "started": started}) + "\n"
    for _ in range(1000):
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=file.parent)
        try:
            os.write(fd, facts.encode())
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a file no one else has: cannot be held
        except OSError:  # a file system without locks (some network mounts): write unlocked, as before
            os.close(fd)
            os.unlink(tmp)
            return None
        try:
            os.link(tmp, file)
            return fd
        except FileExistsError:
            if _take_over(fd, tmp, file, shown):
                return fd
        except BaseException:
            os.close(fd)
            raise
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        os.close(fd)
        time.sleep(0.01)  # the lock file changed hands as it was read: look again
    raise HourglassError(f"{shown}: cannot take its write lock {file}; another process keeps changing it")


def _take_over(fd: int, tmp: str, file: Path, shown: str) -> bool:
    """Replace a lock file that no live process holds with ``tmp`` (True); refuse, naming the holder, if one
    does; False when the file changed meanwhile and the caller should try again."""
    assert fcntl is not None
    try:
        other = os.open(file, os.O_RDWR)
    except FileNotFoundError:  # its holder let go just now
        return False
    try:
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            facts = _facts(other)
            # A holder's file names a live process; a dead one's means another writer is taking it over.
            if _same_file(other, file) and facts is not None and _alive(int(facts["pid"])):
                raise HourglassError(
                    f"{shown} is being written by PID {int(facts['pid'])} ({str(facts['command'])[:200]}), "
                    f"started at {facts['started']}; wait for it to finish or write elsewhere"
                ) from None
            return False
        if not _same_file(other, file):
            return False
        os.replace(tmp, file)  # we hold the dead process's lock, so no one else is replacing it
        return True
    finally:
        os.close(other)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _facts(fd: int) -> dict | None:
    """What a lock file says of its holder: pid, command and start time; None if unreadable."""
    try:
        facts = json.loads(os.pread(fd, 4096, 0))
    except (OSError, ValueError):
        return None
    ok = isinstance(facts, dict) and isinstance(facts.get("pid"), int) and {"command", "started"} <= facts.keys()
    return facts if ok else None


def _command() -> str:
    """This process's command line as the user typed it, roughly (``python -m hourglass`` reads as hourglass)."""
    argv = list(sys.argv) or ["python"]
    first = Path(argv[0]).name
    argv[0] = "hourglass" if first in ("__main__.py", "hourglass") else first
    return " ".join(argv)[:200]


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
