"""Claiming output files before anything is written.

Every command that writes a file the user named (``report --out``, ``demo --out``,
``import --rejects``) claims the path here first, so the rules live in one place:

* a file that already exists is never replaced unless the user passed ``--force``
  (a command must not silently destroy a file it did not create in this run);
* an input or a template is never replaced, not even with ``--force``;
* a directory, or a path below something that is not a directory (``/dev/null/x``),
  is refused with one line instead of a traceback from deep inside a writer.

Claiming checks; it creates nothing, so a refused claim leaves the filesystem as it was.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from gallery_analytics.errors import OutputExistsError, OutputPathError

__all__ = ["claim_output", "claim_outputs"]


def claim_output(
    path: Path | str,
    *,
    force: bool,
    protected: Iterable[Path | str] = (),
    field: str = "out",
) -> Path:
    """Check that ``path`` may be written by this run and return it resolved.

    ``protected`` lists inputs and templates; a directory in it protects everything
    below it. Symbolic links are followed, so a link to a protected file is protected.
    Raises :class:`OutputPathError` (or its subclass :class:`OutputExistsError`, which
    ``force`` waives) naming ``field`` and the path.
    """
    original = Path(path).expanduser()
    resolved = original.resolve()
    shown = str(original)
    if resolved.is_dir():
        raise OutputPathError(
            field, f"{shown} is a directory; expected the path of a file to write", path=original
        )
    _check_parent(resolved, shown=shown, field=field, original=original)
    for item in protected:
        guarded = Path(item).expanduser().resolve()
        if _same_or_inside(resolved, guarded):
            raise OutputPathError(
                field,
                f"{shown} is an input or template of this command ({guarded}); "
                "choose another output path (--force does not apply)",
                path=original,
            )
    if os.path.lexists(original) and not force:
        raise OutputExistsError(
            field,
            f"{shown} already exists; pass --force to replace it, or choose another path",
            path=original,
        )
    return resolved


def claim_outputs(
    paths: Iterable[Path | str],
    *,
    force: bool,
    protected: Iterable[Path | str] = (),
    field: str = "out",
) -> list[Path]:
    """Claim several outputs of one run at once: all are checked before any is written."""
    guarded = list(protected)
    claimed = [claim_output(p, force=force, protected=guarded, field=field) for p in paths]
    if len(set(claimed)) != len(claimed):
        raise OutputPathError(
            field, "two outputs of this run resolve to the same file", path=claimed[0]
        )
    return claimed


def _check_parent(resolved: Path, *, shown: str, field: str, original: Path) -> None:
    """The nearest existing ancestor must be a directory (missing ones may be created)."""
    for ancestor in resolved.parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise OutputPathError(
                    field,
                    f"cannot write {shown}: {ancestor} is not a directory",
                    path=original,
                )
            return
        if os.path.lexists(ancestor):  # a dangling link where a directory should be
            raise OutputPathError(
                field, f"cannot write {shown}: {ancestor} is a broken link", path=original
            )


def _same_or_inside(path: Path, guarded: Path) -> bool:
    if path == guarded:
        return True
    if guarded.is_dir() and path.is_relative_to(guarded):
        return True
    try:
        return path.exists() and guarded.exists() and path.samefile(guarded)  # hard links
    except OSError:
        return False
