-- One row per (usage_date, provider, model). A key whose priced events have two currencies gets
-- both names ("RMB/USD") and currency_conflict, and is held back from API_Meter.
INSERT INTO usage_per_model
SELECT usage_date,
       provider,
       model,
       min(publisher),
       sum(input_tokens),
       sum(output_tokens),
       sum(total_tokens),
       count(*),
       sum(cost),
       string_agg(DISTINCT resolved_currency, '/' ORDER BY resolved_currency),
       bool_or(currency_conflict),
       count(*) FILTER (WHERE NOT priced),
       count(*) FILTER (WHERE approximate),
       list(DISTINCT provider_raw || ' / ' || model_raw ORDER BY provider_raw || ' / ' || model_raw),
       $built_at
FROM window_events
GROUP BY usage_date, provider, model;
