"""Usage events read straight from Dify's PostgreSQL, read-only: `reader.read_usage_events` is the entry point."""
