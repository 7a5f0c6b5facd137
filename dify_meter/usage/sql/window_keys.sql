-- One row per (usage_date, provider_raw, model_raw) of the window (window_ids.sql): the
-- normalized provider, model and publisher, and the currency resolution of its normalized key.
-- Normalization happens before grouping: normalized_models (a temp table filled from the Python
-- normalizer) maps each raw (provider, model) id to the billing provider and normalized model.
-- An unpriced event has no currency of its own: it takes the currency of the priced events of the
-- same day, provider and model (USD when there are none), so it never adds a second currency.
-- Working on the window's few distinct ids instead of its events keeps this cheap; window_events
-- applies it to every event.
CREATE OR REPLACE TEMP TABLE window_keys AS
WITH normalized AS (
    SELECT r.*, n.provider, n.model, n.publisher
    FROM window_ids AS r
    JOIN normalized_models AS n
      ON n.provider_raw = r.provider_raw AND n.model_raw = r.model_raw
),
key_currencies AS (
    SELECT usage_date, provider, model,
           min(reported_currency) AS currency,
           count(DISTINCT reported_currency) AS currencies
    FROM normalized
    WHERE priced
    GROUP BY usage_date, provider, model
)
SELECT DISTINCT n.usage_date, n.provider_raw, n.model_raw, n.provider, n.model, n.publisher,
       coalesce(k.currency, 'USD') AS unpriced_currency,
       coalesce(k.currencies, 0) > 1 AS currency_conflict
FROM normalized AS n
LEFT JOIN key_currencies AS k USING (usage_date, provider, model);
