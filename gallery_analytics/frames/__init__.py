"""Results as pandas DataFrames with real dtypes.

- :func:`to_frame`: DTO lists and dashboard panel results (small, Python objects);
- :func:`extract_frame`: large raw query results via binary COPY, ADBC and Arrow (fast);
- :func:`iter_batches`: the same in DataFrames of bounded size, for results beyond memory;
- :func:`extract_to_parquet`: a result streamed into a Parquet file, memory bounded;
- :func:`fetch_frame`: the same through SQLAlchemy rows (simple, slow, same dtypes).
"""

from gallery_analytics.domain.columns import ColumnSpec, Kind
from gallery_analytics.frames.convert import frame_from_models, frame_from_rows
from gallery_analytics.frames.extract import extract_frame, fetch_frame, iter_batches
from gallery_analytics.frames.parquet import ParquetExtract, extract_to_parquet
from gallery_analytics.frames.sql import compile_query
from gallery_analytics.frames.to_frame import to_frame

__all__ = [
    "ColumnSpec",
    "Kind",
    "ParquetExtract",
    "compile_query",
    "extract_frame",
    "extract_to_parquet",
    "fetch_frame",
    "frame_from_models",
    "frame_from_rows",
    "iter_batches",
    "to_frame",
]
