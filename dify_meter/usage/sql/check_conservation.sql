-- Days of the window where an aggregate's sums differ from the raw events' sums ({table} is one
-- of the four aggregate tables). No row returned means every sum is conserved exactly.
WITH raw AS (
    SELECT usage_date,
           sum(input_tokens) AS input_tokens,
           sum(output_tokens) AS output_tokens,
           sum(total_tokens) AS total_tokens,
           count(*) AS request_count,
           sum(cost) AS cost,
           count(*) FILTER (WHERE NOT priced) AS unpriced_events,
           count(*) FILTER (WHERE approximate) AS approximate_events
    FROM raw_usage_events
    WHERE usage_date BETWEEN $first_day AND $last_day
    GROUP BY usage_date
),
aggregate AS (
    SELECT usage_date,
           sum(input_tokens) AS input_tokens,
           sum(output_tokens) AS output_tokens,
           sum(total_tokens) AS total_tokens,
           sum(request_count) AS request_count,
           sum(cost) AS cost,
           sum(unpriced_events) AS unpriced_events,
           sum(approximate_events) AS approximate_events
    FROM {table}
    WHERE usage_date BETWEEN $first_day AND $last_day
    GROUP BY usage_date
)
SELECT usage_date,
       raw.input_tokens, aggregate.input_tokens,
       raw.output_tokens, aggregate.output_tokens,
       raw.total_tokens, aggregate.total_tokens,
       raw.request_count, aggregate.request_count,
       raw.cost, aggregate.cost,
       raw.unpriced_events, aggregate.unpriced_events,
       raw.approximate_events, aggregate.approximate_events
FROM raw
FULL OUTER JOIN aggregate USING (usage_date)
WHERE raw.input_tokens IS DISTINCT FROM aggregate.input_tokens
   OR raw.output_tokens IS DISTINCT FROM aggregate.output_tokens
   OR raw.total_tokens IS DISTINCT FROM aggregate.total_tokens
   OR raw.request_count IS DISTINCT FROM aggregate.request_count
   OR raw.cost IS DISTINCT FROM aggregate.cost
   OR raw.unpriced_events IS DISTINCT FROM aggregate.unpriced_events
   OR raw.approximate_events IS DISTINCT FROM aggregate.approximate_events
ORDER BY usage_date;
