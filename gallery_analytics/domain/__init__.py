"""The gallery's vocabulary, with no I/O: filters, enums, column specs and value types.

Every layer (queries, services, frames, charts, widgets, the CLI) imports from here and
this package imports from no other layer of the project except :mod:`gallery_analytics.errors`,
so there is no import cycle between layers and each module imports on its own.
"""
