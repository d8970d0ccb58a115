"""Reading a file a user named: regular files only, and never more than the size limit.

A path can name a device (`/dev/zero` never ends), a FIFO or a process substitution
(`<(cat f)`, which blocks until a writer comes and reports size 0), or a socket. Such
paths are refused from `os.stat` before anything opens them; a file that is opened
anyway is opened non-blocking and checked again on its descriptor (it may have been
swapped since), and is read in bounded chunks so that no file, whatever `stat()` said
(files under `/proc` report size 0), yields more than `TOPICLAB_MAX_UPLOAD_MB`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from core.config import max_upload_bytes
from core.errors import InputError, counted

_CHUNK = 1 << 20

_KINDS = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe, or a shell process substitution like <(…))"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def kind_of(mode: int) -> str:
    """What a `st_mode` describes, in words for a message ("a character device", …)."""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((label for test, label in _KINDS if test(mode)), "not a regular file")


def not_regular(shown: str, mode: int, *, folders: bool = False) -> InputError:
    """The refusal of a path that is no regular file; `folders`: the caller also reads
    folders (an import), so the message offers them, and only then."""
    if folders:
        return InputError(f"is {kind_of(mode)}, not a regular file; only regular files (or "
                          "folders of them) can be read", file=shown)
    return InputError(f"is {kind_of(mode)}, not a regular file; only a regular file can be "
                      "read here: give one file", file=shown)


def check_size(size: int, shown: str) -> None:
    """Refuse `size` bytes when it is over `TOPICLAB_MAX_UPLOAD_MB`."""
    limit = max_upload_bytes()
    if size > limit:
        raise InputError(
            f"file is {megabytes(size)}, over the import limit of {megabytes(limit)}; "
            "set TOPICLAB_MAX_UPLOAD_MB to allow bigger files", file=shown)


def megabytes(size: int) -> str:
    return f"{size / 2**20:.{0 if size >= 10 * 2**20 else 2}f} MB"


def given_path(raw: str | os.PathLike) -> Path:
    """A path as a user gave it, `~` expanded: once, where paths come in (`read_terms`,
    `ingest`, `--file`, `demo --out`, the Spark export dir). A quoted `"~/x"`,
    `--file=~/x` or a notebook's `read_terms("~/x")` reach Python unexpanded, and were
    read as a folder named `~`.
    `~nosuchuser/x` is left as given (then "no such file" names it)."""
    path = Path(raw)
    try:
        return path.expanduser()
    except RuntimeError:
        return path


def check_not_a_pattern(raw: object, reader: str, expand: str, aside: str = "") -> None:
    """Refuse a path holding `*`, `?` or `[` that names nothing: it is a pattern nobody
    expanded (a shell does, unless it is quoted; Python does not), which said "no such
    file or folder", as if the files were not there. One wording for every reader:
    `reader` names it ("read_terms", "ingest"), `aside` says why it got the pattern as it
    is, and `expand` is how its user has the pattern expanded, `{pattern}` the pattern."""
    if not isinstance(raw, str | os.PathLike):
        return  # the reader names what is not a path
    text = os.fspath(raw)
    if not isinstance(text, str) or not any(c in text for c in "*?[") or (
            given_path(text).exists()):
        return
    import glob

    pattern = str(given_path(text))
    found = len(glob.glob(pattern))
    said = f"no such file or folder; {reader} does not expand patterns such as *{aside}"
    if not found:
        raise InputError(f"{said}, and as a pattern it matches nothing either", file=text)
    folder = Path(pattern).parent
    raise InputError(f"{said} (as a pattern it matches {counted(found, 'path')}): give "
                     f"{expand.format(pattern=repr(pattern))}, or the folder "
                     f"{str(folder)!r} to read every file in it", file=text)


def regular_file(path: str | Path, shown: str | None = None, *,
                 folders: bool = False) -> os.stat_result:
    """`os.stat` of a path that must be an existing regular file (links followed);
    `folders`: the caller reads folders too, so its messages may say so."""
    shown = shown or str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputError("no such file or folder" if folders else "no such file",
                         file=shown) from None
    except OSError as err:
        raise InputError(f"cannot be read ({err.strerror})", file=shown) from None
    if not stat.S_ISREG(info.st_mode):
        raise not_regular(shown, info.st_mode, folders=folders)
    return info


def read_limited(path: str | Path, shown: str | None = None, *,
                 folders: bool = False) -> bytes:
    """The bytes of a regular file, refused as soon as they pass the size limit
    (`folders` as for `regular_file`)."""
    shown = shown or str(path)
    check_size(regular_file(path, shown, folders=folders).st_size, shown)
    limit = max_upload_bytes()
    try:
        # O_NONBLOCK: should the path have become a FIFO since the check, opening it
        # returns at once instead of waiting for a writer; fstat below then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise InputError(f"cannot be read ({err.strerror})", file=shown) from None
    with os.fdopen(fd, "rb", buffering=0) as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise not_regular(shown, info.st_mode, folders=folders)
        os.set_blocking(fd, True)
        # The whole file in one read when it is as big as `fstat` says: read in chunks and
        # joined, a file was held twice at the end (266 MB for a 133 MB CSV). Only a file
        # that grew, or whose size is not known (/proc), goes on in chunks.
        chunks, total, piece = [], 0, info.st_size + 1
        while chunk := handle.read(min(piece, limit + 1 - total)):
            piece = _CHUNK
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise InputError(
                    f"file holds more than the import limit of {megabytes(limit)} (it grew "
                    "while being read, or its size is not known in advance); set "
                    "TOPICLAB_MAX_UPLOAD_MB to allow bigger files", file=shown)
    return b"".join(chunks)


__all__ = ["check_size", "given_path", "kind_of", "read_limited", "regular_file"]
