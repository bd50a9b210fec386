"""Import real collection data (artists and artworks CSVs) into the gallery database.

Files with problems raise :class:`gallery_analytics.ImportValidationError` (defined with
every project error in :mod:`gallery_analytics.errors`).
"""

from gallery_analytics.errors import Problem
from gallery_analytics.imports.fields import parse_year
from gallery_analytics.imports.loader import (
    UNKNOWN_ARTIST_NAME,
    ImportReport,
    import_collection,
)

__all__ = [
    "UNKNOWN_ARTIST_NAME",
    "ImportReport",
    "Problem",
    "import_collection",
    "parse_year",
]
