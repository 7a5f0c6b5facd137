-- The raw events of the window, normalized and with their currency resolved: every aggregate of
-- the window is grouped from this view. The join with window_keys (window_keys.sql) keeps only
-- the window's days. A view, not a table: each aggregate streams the columns it needs from
-- raw_usage_events instead of a copy of every column of every event being held in memory.
CREATE OR REPLACE TEMP VIEW window_events AS
SELECT r.*,
       k.provider,
       k.model,
       k.publisher,
       CASE WHEN r.priced THEN coalesce(r.currency, 'USD') ELSE k.unpriced_currency END AS resolved_currency,
       k.currency_conflict
FROM raw_usage_events AS r
JOIN window_keys AS k
  ON k.usage_date = r.usage_date AND k.provider_raw = r.provider_raw AND k.model_raw = r.model_raw;
