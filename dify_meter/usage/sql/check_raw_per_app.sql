-- Per app, the raw events of usage days ? .. ? that the checks against Dify's own statistics compare:
-- totals, unpriced and approximate events, console-account tokens (the console's bound on debugger traffic),
-- and the events read from Dify's database with the debugger traffic their invoke_from names exactly and the
-- tokens of runs started from the app (triggered_from 'app-run': what Dify's workflow statistics count).
SELECT app_id,
       sum(total_tokens),
       sum(cost),
       count(*) FILTER (WHERE NOT priced),
       count(*) FILTER (WHERE approximate),
       sum(total_tokens) FILTER (WHERE approximate),
       sum(total_tokens) FILTER (WHERE user_type = 'account'),
       count(*),
       count(*) FILTER (WHERE read_from = 'database' AND invoke_from IS NOT NULL),
       sum(total_tokens) FILTER (WHERE invoke_from = 'debugger'),
       sum(cost) FILTER (WHERE invoke_from = 'debugger'),
       count(*) FILTER (WHERE read_from = 'database' AND triggered_from IS NOT NULL),
       sum(total_tokens) FILTER (WHERE triggered_from = 'app-run')
FROM raw_usage_events
WHERE usage_date BETWEEN ? AND ?
GROUP BY app_id
