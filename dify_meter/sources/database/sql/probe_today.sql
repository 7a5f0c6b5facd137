-- A cheap count of today's events: messages of the message-based apps (conversations not deleted) and LLM
-- node executions of the day's runs that are not the debugger's; no JSON is read.
WITH apps AS (
    SELECT a.id, a.mode FROM apps a
    WHERE a.tenant_id = %(tenant_id)s AND a.status = 'normal' AND NOT a.is_universal
)
SELECT (SELECT count(m.id)
        FROM messages m JOIN conversations c ON c.id = m.conversation_id
        WHERE m.app_id IN (SELECT id FROM apps WHERE mode = ANY(%(message_modes)s::text[]))
          AND m.created_at >= %(lo)s AND m.created_at < %(hi)s AND NOT c.is_deleted) AS messages,
       (SELECT count(n.id)
        FROM workflow_runs r JOIN workflow_node_executions n ON n.workflow_run_id = r.id AND n.tenant_id = r.tenant_id
        WHERE r.tenant_id = %(tenant_id)s AND r.app_id IN (SELECT id FROM apps)
          AND r.created_at >= %(lo)s AND r.created_at < %(hi)s AND r.triggered_from <> 'debugging'
          AND n.node_type IN ('llm', 'question-classifier', 'parameter-extractor', 'agent')) AS nodes
