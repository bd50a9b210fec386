"""UnfinishedFile, in both of its forms (unnamed where the filesystem allows, a hidden
file elsewhere): the target gets the whole file or nothing, is never replaced without
``force``, and nothing is left beside it afterwards."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gallery_analytics import unfinished as unfinished_module
from gallery_analytics.errors import OutputExistsError
from gallery_analytics.unfinished import UnfinishedFile


@pytest.fixture(params=["unnamed", "hidden"])
def form(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "hidden":  # as on a filesystem without O_TMPFILE
        monkeypatch.setattr(unfinished_module, "_open_unnamed", lambda directory: None)
    return str(request.param)


def _write(file: UnfinishedFile, data: bytes) -> None:
    with open(file.writer_path, "wb") as stream:  # as a library opens a path
        stream.write(data)


def test_the_target_appears_whole_and_alone(form: str, tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    file = UnfinishedFile(target)
    assert file.unnamed == (form == "unnamed")
    _write(file, b"x" * 1000)
    assert not target.exists()
    assert os.listdir(tmp_path) == ([] if file.unnamed else [Path(file.writer_path).name])
    assert file.put_in_place(force=False, field="out") == 1000
    file.discard()
    file.discard()  # idempotent
    assert file.unnamed == (form == "unnamed")
    assert target.read_bytes() == b"x" * 1000
    assert os.listdir(tmp_path) == ["out.bin"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def test_an_existing_target_is_replaced_only_with_force(form: str, tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"theirs")
    file = UnfinishedFile(target)
    _write(file, b"ours")
    with pytest.raises(OutputExistsError, match="appeared while") as caught:
        file.put_in_place(force=False, field="out")
    assert caught.value.field == "out"
    assert target.read_bytes() == b"theirs"
    assert file.put_in_place(force=True, field="out") == 4
    file.discard()
    assert target.read_bytes() == b"ours"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_discarding_leaves_nothing(form: str, tmp_path: Path) -> None:
    file = UnfinishedFile(tmp_path / "out.bin")
    _write(file, b"half")
    file.discard()
    assert os.listdir(tmp_path) == []


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
