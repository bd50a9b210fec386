"""Every error the package raises on purpose is reachable as ``gallery_analytics.X``."""

from __future__ import annotations

import inspect

import gallery_analytics
from gallery_analytics import errors


def test_every_project_error_is_exported_at_the_top() -> None:
    declared = {
        name
        for name, value in inspect.getmembers(errors, inspect.isclass)
        if issubclass(value, errors.GalleryAnalyticsError) and value.__module__ == errors.__name__
    }
    assert declared <= set(gallery_analytics.__all__)
    for name in declared:
        assert getattr(gallery_analytics, name) is getattr(errors, name)
