-- Node events of workflow runs started in one window that have an app log (runs without one are the
-- debugger's); the user is the log's. Runs first, then their nodes by workflow_run_id.
WITH runs AS MATERIALIZED (
    SELECT r.id, r.tenant_id, r.app_id, r.created_at, r.triggered_from, log.created_by_role, log.created_by
    FROM workflow_runs r
    CROSS JOIN LATERAL (
        SELECT l.created_by_role, l.created_by FROM workflow_app_logs l
        WHERE l.workflow_run_id = r.id AND l.tenant_id = r.tenant_id AND l.app_id = r.app_id
        LIMIT 1
    ) log
    WHERE r.tenant_id = %(tenant_id)s AND r.app_id = ANY(%(workflow_app_ids)s::uuid[])
      AND r.created_at >= %(lo)s AND r.created_at < %(hi)s
      AND (hashtext(r.id::text) & 1) = %(part)s  -- one of the two halves of the day's runs
)
SELECT {node_columns},
       runs.app_id::text AS app_id, runs.created_at, runs.triggered_from,
       runs.created_by_role, runs.created_by::text AS created_by, end_user.session_id
FROM runs
JOIN workflow_node_executions n ON n.workflow_run_id = runs.id AND n.tenant_id = runs.tenant_id AND n.app_id = runs.app_id
LEFT JOIN end_users end_user ON runs.created_by_role = 'end_user' AND end_user.id = runs.created_by
{node_usage}
WHERE n.node_type IN ('llm', 'question-classifier', 'parameter-extractor', 'agent')
