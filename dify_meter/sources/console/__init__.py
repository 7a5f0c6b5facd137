"""Reading Dify: the console API client, response models and usage-event extraction (no Dagster)."""
