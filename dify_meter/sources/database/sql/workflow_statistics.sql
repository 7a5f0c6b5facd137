-- Dify's own workflow/statistics/token-costs (api/controllers/console/app/workflow_statistic.py), for all the
-- given apps at once: workflow_runs.total_tokens of runs started from the app (not the debugger, a webhook or
-- a schedule) per app and local date. Dify keeps no cost for them. Bounds are naive UTC.
SELECT app_id::text AS app_id,
       DATE(DATE_TRUNC('day', created_at AT TIME ZONE 'UTC' AT TIME ZONE %(timezone)s)) AS date,
       SUM(total_tokens) AS token_count
FROM workflow_runs
WHERE tenant_id = %(tenant_id)s AND app_id = ANY(%(app_ids)s::uuid[])
  AND triggered_from = 'app-run'
  AND created_at >= %(start)s AND created_at < %(end)s
GROUP BY app_id, date
