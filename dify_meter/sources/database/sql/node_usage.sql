-- The usage columns of a workflow node row: its three JSON columns parsed once each into jsonb (a `json`
-- value is re-scanned by every `->`), `usage` from process_data (Dify >= 1.0), else outputs (older rows,
-- agent nodes). Included in both node queries.
CROSS JOIN LATERAL (
    SELECT NULLIF(n.process_data, '')::jsonb AS process, NULLIF(n.outputs, '')::jsonb AS outputs,
           NULLIF(n.execution_metadata, '')::jsonb AS metadata
    OFFSET 0
) node_json
CROSS JOIN LATERAL (
    SELECT CASE WHEN jsonb_typeof(node_json.process -> 'usage') = 'object' THEN node_json.process -> 'usage'
                WHEN jsonb_typeof(node_json.outputs -> 'usage') = 'object' THEN node_json.outputs -> 'usage' END AS usage
    OFFSET 0
) node_usage
