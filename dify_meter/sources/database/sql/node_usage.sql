-- The usage columns of a workflow node row: its three JSON columns parsed once each, `usage` from
-- process_data (Dify >= 1.0), else outputs (older rows, agent nodes). Included in both node queries.
CROSS JOIN LATERAL (
    SELECT NULLIF(n.process_data, '')::json AS process, NULLIF(n.outputs, '')::json AS outputs,
           NULLIF(n.execution_metadata, '')::json AS metadata
    OFFSET 0
) node_json
CROSS JOIN LATERAL (
    SELECT CASE WHEN json_typeof(node_json.process -> 'usage') = 'object' THEN node_json.process -> 'usage'
                WHEN json_typeof(node_json.outputs -> 'usage') = 'object' THEN node_json.outputs -> 'usage' END AS usage
    OFFSET 0
) node_usage
