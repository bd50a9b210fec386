"""claim_output: the one place that decides whether a command may write a path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gallery_analytics.errors import GalleryAnalyticsError, OutputExistsError, OutputPathError
from gallery_analytics.outputs import claim_output, claim_outputs


def test_new_file_in_missing_directories_is_claimed(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "report.html"
    assert claim_output(target, force=False) == target.resolve()
    assert not (tmp_path / "a").exists()  # claiming creates nothing


def test_existing_file_needs_force(tmp_path: Path) -> None:
    target = tmp_path / "analysis.ipynb"
    target.write_text("mine")
    with pytest.raises(OutputExistsError, match="--force") as caught:
        claim_output(target, force=False)
    assert str(target) in str(caught.value)
    assert isinstance(caught.value, GalleryAnalyticsError)
    assert claim_output(target, force=True) == target.resolve()
    assert target.read_text() == "mine"


def test_dangling_symlink_counts_as_existing(tmp_path: Path) -> None:
    link = tmp_path / "out.html"
    link.symlink_to(tmp_path / "elsewhere.html")
    with pytest.raises(OutputExistsError):
        claim_output(link, force=False)


@pytest.mark.parametrize("force", [False, True])
def test_protected_file_is_refused_even_with_force(tmp_path: Path, force: bool) -> None:
    template = tmp_path / "04-report.ipynb"
    template.write_text("{}")
    with pytest.raises(OutputPathError, match="input or template"):
        claim_output(template, force=force, protected=[template])
    link = tmp_path / "link.ipynb"
    link.symlink_to(template)
    with pytest.raises(OutputPathError, match="input or template"):
        claim_output(link, force=True, protected=[template])
    hard = tmp_path / "hard.ipynb"
    os.link(template, hard)
    with pytest.raises(OutputPathError, match="input or template"):
        claim_output(hard, force=True, protected=[template])


def test_protected_directory_protects_everything_below(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    with pytest.raises(OutputPathError, match="input or template"):
        claim_output(
            tmp_path / "templates" / "new.html", force=True, protected=[tmp_path / "templates"]
        )


@pytest.mark.parametrize("force", [False, True])
def test_directory_is_refused(tmp_path: Path, force: bool) -> None:
    with pytest.raises(OutputPathError, match="is a directory"):
        claim_output(tmp_path, force=force)


@pytest.mark.parametrize("path", ["/dev/null/x.html", "/dev/null/deeper/x.html"])
def test_path_below_a_non_directory_is_refused(path: str) -> None:
    with pytest.raises(OutputPathError, match="/dev/null is not a directory"):
        claim_output(path, force=True)


def test_claim_outputs_checks_all_before_any(tmp_path: Path) -> None:
    (tmp_path / "b.ipynb").write_text("keep")
    with pytest.raises(OutputExistsError, match=r"b\.ipynb"):
        claim_outputs([tmp_path / "b.html", tmp_path / "b.ipynb"], force=False)
    with pytest.raises(OutputPathError, match="same file"):
        claim_outputs([tmp_path / "c.html", tmp_path / "c.html"], force=False)
