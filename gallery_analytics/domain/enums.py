"""Enumerations of the gallery's vocabulary, shared by models, filters, DTOs and charts."""

from __future__ import annotations

import enum


class ArtworkStatus(enum.StrEnum):
    """Where an artwork is in its life at the gallery."""

    AVAILABLE = "available"
    RESERVED = "reserved"
    SOLD = "sold"
    ON_LOAN = "on_loan"
