"""Enumerations of the gallery's vocabulary, shared by models, filters, DTOs and charts."""

from __future__ import annotations

import enum
from typing import Final

# The label the medium panel groups the mediums beyond its top ones under: not a medium,
# so a chart never offers it as a filter.
OTHER_MEDIUM: Final = "Other"
# The label the panels show for a missing medium, nationality or gender: not a value to
# filter by either.
UNKNOWN: Final = "Unknown"


class ArtworkStatus(enum.StrEnum):
    """Where an artwork is in its life at the gallery."""

    AVAILABLE = "available"
    RESERVED = "reserved"
    SOLD = "sold"
    ON_LOAN = "on_loan"
