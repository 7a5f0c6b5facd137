-- One row per (usage_date, provider, model). A key whose priced events have two currencies gets
-- both names ("RMB/USD") and currency_conflict, and is held back from API_Meter.
-- Grouped in two steps, first per raw id and currency (a few dozen rows a day), so the distinct
-- lists of currencies and raw ids are built from those rows instead of from every event.
INSERT INTO usage_per_model
WITH per_raw_id AS (
    SELECT usage_date,
           provider,
           model,
           provider_raw,
           model_raw,
           resolved_currency,
           min(publisher) AS publisher,
           sum(input_tokens) AS input_tokens,
           sum(output_tokens) AS output_tokens,
           sum(total_tokens) AS total_tokens,
           count(*) AS request_count,
           sum(cost) AS cost,
           bool_or(currency_conflict) AS currency_conflict,
           count(*) FILTER (WHERE NOT priced) AS unpriced_events,
           count(*) FILTER (WHERE approximate) AS approximate_events
    FROM window_events
    GROUP BY usage_date, provider, model, provider_raw, model_raw, resolved_currency
)
SELECT usage_date,
       provider,
       model,
       min(publisher),
       sum(input_tokens),
       sum(output_tokens),
       sum(total_tokens),
       sum(request_count),
       sum(cost),
       string_agg(DISTINCT resolved_currency, '/' ORDER BY resolved_currency),
       bool_or(currency_conflict),
       sum(unpriced_events),
       sum(approximate_events),
       list(DISTINCT provider_raw || ' / ' || model_raw ORDER BY provider_raw || ' / ' || model_raw),
       $built_at
FROM per_raw_id
GROUP BY usage_date, provider, model;
