-- Node events of advanced-chat messages of one window (the debugger's excluded, as on the console):
-- the day's runs first, then their nodes by workflow_run_id, so the planner never scans the node table.
WITH runs AS MATERIALIZED (
    SELECT m.id AS message_id, m.conversation_id, m.app_id, m.created_at, m.workflow_run_id,
           m.invoke_from AS message_invoke_from, c.invoke_from AS conversation_invoke_from,
           c.from_account_id, c.from_end_user_id
    FROM messages m
    JOIN conversations c ON c.id = m.conversation_id
    WHERE m.created_at >= %(lo)s AND m.created_at < %(hi)s
      AND m.app_id = ANY(%(advanced_chat_app_ids)s::uuid[])
      AND NOT c.is_deleted AND c.invoke_from <> 'debugger' AND m.workflow_run_id IS NOT NULL
      AND (hashtext(m.workflow_run_id::text) & 1) = %(part)s  -- one of the two halves of the day's runs
)
SELECT {node_columns},
       runs.message_id::text AS message_id, runs.conversation_id::text AS conversation_id,
       runs.app_id::text AS app_id, runs.created_at,
       end_user.session_id, runs.from_account_id::text AS from_account_id,
       runs.from_end_user_id::text AS from_end_user_id,
       runs.message_invoke_from, runs.conversation_invoke_from, r.triggered_from
FROM runs
JOIN workflow_runs r ON r.id = runs.workflow_run_id AND r.tenant_id = %(tenant_id)s AND r.app_id = runs.app_id
JOIN workflow_node_executions n ON n.workflow_run_id = r.id AND n.tenant_id = r.tenant_id AND n.app_id = r.app_id
LEFT JOIN end_users end_user ON end_user.id = runs.from_end_user_id
{node_usage}
WHERE n.node_type IN ('llm', 'question-classifier', 'parameter-extractor', 'agent')
