-- Which of the given node executions had process_data or outputs moved to file storage (truncated rows).
SELECT o.node_execution_id::text AS node_execution_id, o.type
FROM workflow_node_execution_offload o
WHERE o.node_execution_id::text = ANY(%(node_execution_ids)s) AND o.type IN ('process_data', 'outputs')
