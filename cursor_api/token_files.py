"""Token files on disk: atomic replacement of one file, or of the `.token`/`.token-list` pair.

One file is replaced by writing a temp file beside it and renaming it over the old one.
Two files cannot be renamed at once, so the pair is committed through a small journal:
both temp files are written and synced, then the journal naming them is written
atomically (the commit point), then both are renamed and the journal removed. A process
killed before the journal exists leaves the old pair; one killed after it leaves a
journal that the next start (`recover`) completes. Either way the two files come from
one write. Temp files a killed writer left behind are removed by `recover`.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows: the in-process lock still holds
    fcntl = None  # type: ignore[assignment]

NEW_FILE_MODE = 0o600
TEMP_SUFFIX = ".tmp"


class TokenFileError(Exception):
    """A token file the service cannot use; the message names the setting and what to do."""


def temp_pattern(path: Path) -> str:
    """The glob that matches `path`'s temp files (`mkstemp` names them so)."""
    return f".{path.name}.*{TEMP_SUFFIX}"


def journal_path(path: Path) -> Path:
    """Where the commit record of a pair whose first file is `path` lives."""
    return path.with_name(f".{path.name}.pair")


def _fsync_dir(directory: Path) -> None:
    # Makes a rename itself durable; not every platform lets a directory be opened.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_temp(path: Path, text: str) -> Path:
    """`text` in a synced temp file beside `path`, with `path`'s mode (0o600 if new)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    # mkstemp creates the file 0o600, so the secret is never readable by others meanwhile.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return tmp


def atomic_write(path: Path, text: str) -> None:
    """Replace `path` with `text` so a crash leaves the old or the new file, never half of one."""
    tmp = _write_temp(path, text)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def write_pair(first: Path, first_text: str, second: Path, second_text: str) -> None:
    """Replace both files so that after any crash and a `recover` both are old or both new."""
    temps: list[Path] = []
    try:
        temps.append(_write_temp(first, first_text))
        temps.append(_write_temp(second, second_text))
        plan = [[str(temps[0]), str(first)], [str(temps[1]), str(second)]]
        atomic_write(journal_path(first), json.dumps(plan))
    except BaseException:
        for tmp in temps:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise
    _complete(journal_path(first), plan)


def _complete(journal: Path, plan: list[list[str]]) -> None:
    """Roll a committed pair forward: rename what is not renamed yet, drop the journal."""
    for tmp, target in plan:
        with contextlib.suppress(FileNotFoundError):
            os.replace(tmp, target)
    for directory in {Path(target).parent for _, target in plan}:
        _fsync_dir(directory)
    journal.unlink()
    _fsync_dir(journal.parent)


def recover(first: Path, second: Path) -> list[str]:
    """Finish a pair commit a killed writer left, and remove its temp files; what was done."""
    done: list[str] = []
    journal = journal_path(first)
    try:
        plan = json.loads(journal.read_text(encoding="utf-8"))
    except FileNotFoundError:
        plan = None
    except (OSError, ValueError) as exc:
        # Written atomically, so unreadable means someone else's file: leave it alone.
        raise TokenFileError(f"{journal} is not a token-file journal ({exc}): remove it") from exc
    if plan is not None:
        _complete(journal, plan)
        done.append(f"completed the interrupted write of {first.name} and {second.name}")
    for path in (first, second, journal):
        for leftover in path.parent.glob(temp_pattern(path)):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
                done.append(f"removed {leftover.name}, left by an interrupted write")
    return done


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold the token files' directory against other processes writing it (flock)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory, os.O_RDONLY)
    except OSError as exc:
        raise TokenFileError(
            f"the token files' folder {directory} cannot be used (TOKEN_FILE):"
            f" {exc.strerror or exc}"
        ) from exc
    if fcntl is None:  # pragma: no cover
        os.close(fd)
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def ensure_file(path: Path, setting: str) -> None:
    """Create `path` empty (0o600) unless it exists; never truncate."""
    if path.is_dir():
        raise TokenFileError(f"{setting}={path} is a directory: point {setting} at a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, NEW_FILE_MODE)
            os.close(fd)
    except OSError as exc:
        raise file_error(setting, path, exc) from exc


def read_text(path: Path, setting: str) -> str:
    """The file as UTF-8 text ("" when missing); anything else is a TokenFileError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise file_error(setting, path, exc) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise TokenFileError(
            f"{setting}={path} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}):"
            " save it as UTF-8"
        ) from exc


def file_error(setting: str, path: Path, exc: OSError) -> TokenFileError:
    """One line naming the setting, the path and what is wrong with it."""
    if isinstance(exc, IsADirectoryError) or path.is_dir():
        return TokenFileError(f"{setting}={path} is a directory: point {setting} at a file")
    reason = exc.strerror or str(exc)
    return TokenFileError(f"{setting}={path} cannot be used: {reason}")
