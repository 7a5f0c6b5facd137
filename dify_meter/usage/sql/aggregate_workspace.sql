INSERT INTO usage_workspace
SELECT usage_date,
       resolved_currency,
       sum(input_tokens),
       sum(output_tokens),
       sum(total_tokens),
       count(*),
       sum(cost),
       count(*) FILTER (WHERE NOT priced),
       count(*) FILTER (WHERE approximate),
       $built_at
FROM window_events
GROUP BY usage_date, resolved_currency;
