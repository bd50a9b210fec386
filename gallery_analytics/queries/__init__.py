"""Read-only analytic queries for dashboard panels (SQL does the aggregation)."""
