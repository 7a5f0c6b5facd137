-- Dify's own statistics/token-costs (api/controllers/console/app/statistic.py), for all the given apps at once:
-- the message columns (not message_metadata) summed per app and local date, the debugger's messages left out
-- (`!=` also drops a NULL invoke_from, as in Dify). Bounds are naive UTC, as Dify's UTC sessions compare them.
SELECT app_id::text AS app_id,
       DATE(DATE_TRUNC('day', created_at AT TIME ZONE 'UTC' AT TIME ZONE %(timezone)s)) AS date,
       (SUM(message_tokens) + SUM(answer_tokens)) AS token_count,
       SUM(total_price) AS total_price
FROM messages
WHERE app_id = ANY(%(app_ids)s::uuid[])
  AND invoke_from != 'debugger'
  AND created_at >= %(start)s AND created_at < %(end)s
GROUP BY app_id, date
