-- The raw events of a window of days ($first_day..$last_day), normalized and with their currency
-- resolved, as a temp table that every aggregate of the window is grouped from.
-- Normalization happens before grouping: normalized_models (a temp table filled from the Python
-- normalizer) maps each raw (provider, model) id to the billing provider and normalized model.
-- An unpriced event has no currency of its own: it takes the currency of the priced events of the
-- same day, provider and model (USD when there are none), so it never adds a second currency.
CREATE OR REPLACE TEMP TABLE window_events AS
WITH events AS (
    SELECT r.*,
           n.provider,
           n.model,
           n.publisher,
           coalesce(r.currency, 'USD') AS reported_currency
    FROM raw_usage_events AS r
    JOIN normalized_models AS n
      ON n.provider_raw = r.provider_raw AND n.model_raw = r.model_raw
    WHERE r.usage_date BETWEEN $first_day AND $last_day
),
key_currencies AS (
    SELECT usage_date, provider, model,
           min(reported_currency) AS currency,
           count(DISTINCT reported_currency) AS currencies
    FROM events
    WHERE priced
    GROUP BY usage_date, provider, model
)
SELECT e.* EXCLUDE (reported_currency),
       CASE WHEN e.priced THEN e.reported_currency ELSE coalesce(k.currency, 'USD') END AS resolved_currency,
       coalesce(k.currencies, 0) > 1 AS currency_conflict
FROM events AS e
LEFT JOIN key_currencies AS k USING (usage_date, provider, model);
