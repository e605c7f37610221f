"""Writing files so that a failure never leaves half a file behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

# Read once at import: os.umask can only be read by setting it, which is not thread-safe.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_output(path, mode: str = "w", **open_kwargs):
    """Open a temporary file beside `path`; on success it replaces `path` in one rename,
    on any error it is removed and `path` is untouched."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        from .errors import InputError

        raise InputError("output folder does not exist", path=directory)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    # mkstemp makes the file private (0600); a take should get the usual permissions.
    os.chmod(tmp, 0o666 & ~_UMASK)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text: str) -> None:
    with atomic_output(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_output(path, "wb") as f:
        f.write(data)


def read_json_file(path):
    """A JSON document from a user's file; InputError (one line naming the file) if it is absent or not JSON."""
    import json

    from .errors import InputError

    try:
        return json.loads(Path(path).read_text("utf-8"))
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except IsADirectoryError:
        raise InputError("is a folder, not a file", path=path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"not valid JSON ({e})", path=path) from None
