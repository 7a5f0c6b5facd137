-- Ended runs of the window whose node executions are not in PostgreSQL (stored elsewhere or archived):
-- their usage cannot be read, so the day must fail instead of reading it as zero.
WITH runs AS MATERIALIZED (
    SELECT m.workflow_run_id AS id
    FROM messages m JOIN conversations c ON c.id = m.conversation_id
    WHERE m.created_at >= %(lo)s AND m.created_at < %(hi)s AND m.app_id = ANY(%(advanced_chat_app_ids)s::uuid[])
      AND NOT c.is_deleted AND c.invoke_from <> 'debugger' AND m.workflow_run_id IS NOT NULL
    UNION
    SELECT r.id FROM workflow_runs r
    WHERE r.tenant_id = %(tenant_id)s AND r.app_id = ANY(%(workflow_app_ids)s::uuid[])
      AND r.created_at >= %(lo)s AND r.created_at < %(hi)s
      AND EXISTS (SELECT 1 FROM workflow_app_logs l WHERE l.workflow_run_id = r.id AND l.app_id = r.app_id)
)
SELECT r.id::text AS workflow_run_id, r.status
FROM runs JOIN workflow_runs r ON r.id = runs.id
WHERE r.status <> 'running'
  AND NOT EXISTS (SELECT 1 FROM workflow_node_executions n WHERE n.workflow_run_id = r.id AND n.tenant_id = r.tenant_id)
