-- Where node executions are kept: of the workspace's latest ended runs, how many have node rows in PostgreSQL.
-- Runs without any (WORKFLOW_NODE_EXECUTION_STORAGE elsewhere, archived) cannot be read from the database.
WITH recent AS (
    SELECT r.id, r.tenant_id
    FROM workflow_runs r
    WHERE r.tenant_id = %(tenant_id)s AND r.status <> 'running'
    ORDER BY r.created_at DESC
    LIMIT %(runs)s
)
SELECT count(*) AS runs,
       count(*) FILTER (WHERE NOT EXISTS (
           SELECT 1 FROM workflow_node_executions n WHERE n.workflow_run_id = recent.id AND n.tenant_id = recent.tenant_id
       )) AS runs_without_nodes
FROM recent
