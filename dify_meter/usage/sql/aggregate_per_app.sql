-- The app's name and mode as of its latest event in the window (an app can be renamed).
INSERT INTO usage_per_app
SELECT usage_date,
       app_id,
       resolved_currency,
       arg_max(app_name, occurred_at),
       arg_max(app_mode, occurred_at),
       sum(input_tokens),
       sum(output_tokens),
       sum(total_tokens),
       count(*),
       sum(cost),
       count(*) FILTER (WHERE NOT priced),
       count(*) FILTER (WHERE approximate),
       $built_at
FROM window_events
GROUP BY usage_date, app_id, resolved_currency;
