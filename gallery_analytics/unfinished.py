"""A file being written, which gets its name only once it is complete.

Big outputs (a Parquet extract of hundreds of MB) are written where nothing can see
them, then put at the user's path in one step, so the path never holds half a file.
Where the filesystem allows it (Linux, ``O_TMPFILE``: ext4, xfs, btrfs, tmpfs...) the
file has no name at all while it is written: if the process is killed (SIGKILL, the
OOM killer, a power cut) the kernel frees it, and nothing is left in the directory.
Elsewhere it is a hidden file beside the path (``.name.<random>.partial``), removed on
any error the process lives through; only a killed process leaves that one behind.

Why our own code: ``tempfile`` names its files (``NamedTemporaryFile``), and libraries
that write "atomically" (``atomicwrites``, ``safer``) also use named temporary files;
none links an unnamed file into place.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

from gallery_analytics.errors import OutputExistsError

__all__ = ["UnfinishedFile"]

# Where this process's descriptors appear as names: an unnamed file is linked from here.
_OWN_DESCRIPTORS = "/proc/self/fd"


class UnfinishedFile:
    """The file that becomes ``target`` once :meth:`put_in_place` is called.

    A writer opens :attr:`writer_path` (a path any library can open). Call
    :meth:`discard` in every case afterwards, finished or not: it frees the unnamed
    file, or removes the hidden one. Blocking: call from a worker thread.
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        self._descriptor = _open_unnamed(target.parent)
        # Whether the file has no name while written (a killed process leaves nothing).
        self.unnamed = self._descriptor is not None
        if self._descriptor is None:
            self.writer_path = str(_hidden_beside(target))
        else:
            self.writer_path = f"{_OWN_DESCRIPTORS}/{self._descriptor}"

    def put_in_place(self, *, force: bool, field: str) -> int:
        """Make the finished file :attr:`target`; its size in bytes.

        Without ``force`` an existing target is never replaced, not even one that
        appeared while the file was written (it is linked, and a link does not
        overwrite): :class:`OutputExistsError` naming ``field``. With ``force`` it is
        replaced in one rename.
        """
        size = os.stat(self.writer_path).st_size
        if self._descriptor is None:
            _put_named_in_place(Path(self.writer_path), self.target, force=force, field=field)
            return size
        if not force:
            self._link(self.target, field=field)
            return size
        hidden = _hidden_beside(self.target)
        self._link(hidden, field=field)
        try:
            os.replace(hidden, self.target)
        except BaseException:
            _remove(hidden)
            raise
        return size

    def discard(self) -> None:
        """Free the unfinished file (idempotent); a target already in place stays."""
        if self._descriptor is None:
            _remove(Path(self.writer_path))
            return
        descriptor, self._descriptor = self._descriptor, None
        os.close(descriptor)

    def _link(self, name: Path, *, field: str) -> None:
        """Give the unnamed file ``name``, which must not exist. ``linkat`` with
        ``AT_SYMLINK_FOLLOW`` from ``/proc/self/fd``: the way an unprivileged process
        names an ``O_TMPFILE`` file (``os.link`` on a full path would link the symlink)."""
        assert self._descriptor is not None
        own = os.open(_OWN_DESCRIPTORS, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.link(str(self._descriptor), name, src_dir_fd=own, follow_symlinks=True)
        except FileExistsError:
            raise _appeared(self.target, field) from None
        finally:
            os.close(own)


def _open_unnamed(directory: Path) -> int | None:
    """A descriptor of a new unnamed file in ``directory``, or None where there is no
    such thing (not Linux, no /proc, a filesystem without ``O_TMPFILE``)."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir(_OWN_DESCRIPTORS):
        return None
    try:
        return os.open(directory, flag | os.O_WRONLY | os.O_CLOEXEC, 0o666)
    except OSError:
        return None  # EOPNOTSUPP, EISDIR on old kernels: the hidden file does instead


def _hidden_beside(target: Path) -> Path:
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.partial")


def _put_named_in_place(partial: Path, target: Path, *, force: bool, field: str) -> None:
    if force:
        os.replace(partial, target)
        return
    try:
        os.link(partial, target)  # fails if target exists: never overwrites
    except FileExistsError:
        raise _appeared(target, field) from None
    except OSError:
        # A filesystem without hard links (exFAT, SMB, some FUSE mounts): check, then
        # rename, which leaves a moment in which a file could appear and be replaced.
        if os.path.lexists(target):
            raise _appeared(target, field) from None
        os.replace(partial, target)
        return
    _remove(partial)


def _appeared(target: Path, field: str) -> OutputExistsError:
    return OutputExistsError(
        field,
        f"{target} appeared while the file was written; pass --force to replace it, or "
        "choose another path",
        path=target,
    )


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
