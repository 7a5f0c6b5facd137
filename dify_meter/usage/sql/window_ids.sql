-- The distinct raw ids of the window ($first_day..$last_day) per day, with how each was priced:
-- a few dozen rows a day. Normalization (normalized_models) and currency resolution
-- (window_keys.sql) work on these instead of scanning every event again.
CREATE OR REPLACE TEMP TABLE window_ids AS
SELECT DISTINCT usage_date, provider_raw, model_raw, priced, coalesce(currency, 'USD') AS reported_currency
FROM raw_usage_events
WHERE usage_date BETWEEN $first_day AND $last_day;
