"""The local truth in DuckDB: schema, raw events, normalization, aggregates (no Dagster)."""
