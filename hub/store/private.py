"""Private at rest: the home is 0700 and every store, WAL and key file 0600.

Modes are set when a file or folder is made (never left to the umask) and checked when it is
opened: a wider one is logged as a warning, once per path, since the files hold BSNs in clear.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("zorghub")

DIR_MODE = 0o700
FILE_MODE = 0o600
_warned: set[str] = set()


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and its parents) if absent; the folder itself is made 0700."""
    if path.is_dir():
        return
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    path.chmod(DIR_MODE)


def create_private_file(path: Path) -> None:
    """Create an empty ``path`` with mode 0600 if absent (an existing file is left as it is)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))


def write_private_file(path: Path, data: bytes) -> None:
    """Write a new file that is 0600 from its first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def write_once(path: Path, data: bytes) -> None:
    """Write a 0600 key file aside and link it into place: two processes making one at once end up with one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    write_private_file(tmp, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def check_private(path: Path, allowed: int) -> bool:
    """True when ``path`` is absent or grants nothing beyond ``allowed``; warns (once) otherwise."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return True
    if not mode & ~allowed:
        return True
    if str(path) not in _warned:
        _warned.add(str(path))
        log.warning("%s is mode %04o, wider than %04o: it may hold personal data; chmod %o %s", path, mode,
                    allowed, allowed, path)
    return False


def check_store_files(path: Path) -> bool:
    """The SQLite file and its write-ahead log and shared-memory files."""
    results = [check_private(Path(f"{path}{suffix}"), FILE_MODE) for suffix in ("", "-wal", "-shm")]
    return all(results)
