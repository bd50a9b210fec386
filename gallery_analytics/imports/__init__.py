"""Import real collection data (artists and artworks CSVs) into the gallery database."""

from gallery_analytics.imports.fields import parse_year
from gallery_analytics.imports.loader import (
    UNKNOWN_ARTIST_NAME,
    ImportReport,
    ImportValidationError,
    import_collection,
)
from gallery_analytics.imports.problems import Problem

__all__ = [
    "UNKNOWN_ARTIST_NAME",
    "ImportReport",
    "ImportValidationError",
    "Problem",
    "import_collection",
    "parse_year",
]
