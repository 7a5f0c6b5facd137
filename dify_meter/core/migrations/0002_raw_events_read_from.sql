-- Version 2: where each event was read from, and what Dify's database adds to it (docs/dify-database.md).
-- read_from: console | database; every row stored before was read through the console.
-- price_source: usage_metadata | message_row | node, set by the database source (NULL for console reads).
-- invoke_from / triggered_from: Dify's own columns, when the database gives them.
ALTER TABLE raw_usage_events ADD COLUMN read_from VARCHAR NOT NULL DEFAULT 'console';
ALTER TABLE raw_usage_events ADD COLUMN price_source VARCHAR;
ALTER TABLE raw_usage_events ADD COLUMN invoke_from VARCHAR;
ALTER TABLE raw_usage_events ADD COLUMN triggered_from VARCHAR;

ALTER TABLE raw_usage_events_staging ADD COLUMN read_from VARCHAR NOT NULL DEFAULT 'console';
ALTER TABLE raw_usage_events_staging ADD COLUMN price_source VARCHAR;
ALTER TABLE raw_usage_events_staging ADD COLUMN invoke_from VARCHAR;
ALTER TABLE raw_usage_events_staging ADD COLUMN triggered_from VARCHAR;
