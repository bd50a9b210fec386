"""Import real collection data (artists and artworks CSVs) into the gallery database."""

from gallery_analytics.imports.loader import ImportReport, ImportValidationError, import_collection
from gallery_analytics.imports.parsing import parse_year

__all__ = ["ImportReport", "ImportValidationError", "import_collection", "parse_year"]
