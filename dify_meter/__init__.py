"""dify_meter: exact daily LLM usage from Dify, kept in DuckDB and delivered to API_Meter."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dify-meter")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
