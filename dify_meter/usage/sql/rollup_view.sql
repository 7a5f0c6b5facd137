-- Template of one roll-up view, filled in by dify_meter/usage/rollups.py: a daily aggregate table
-- summed over ISO weeks (Monday first) or calendar months.
CREATE OR REPLACE VIEW {table}_{period} AS
SELECT date_trunc('{unit}', usage_date)::DATE AS period_start,
       '{period}' AS period,
       {keys},{attributes}
       sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens,
       sum(total_tokens) AS total_tokens,
       sum(request_count) AS request_count,
       sum(cost) AS cost,
       sum(unpriced_events) AS unpriced_events,
       sum(approximate_events) AS approximate_events
FROM {table}
GROUP BY period_start, period, {keys};
