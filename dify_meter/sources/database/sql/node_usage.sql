-- The usage columns of a workflow node row: its JSON columns parsed once each into jsonb (a `json` value is
-- re-scanned by every `->`), `usage` from process_data (Dify >= 1.0), else outputs (older rows, agent nodes).
-- outputs is parsed only for a row whose process_data has no usage: parsing it always cost a third of the
-- node query's time on a 1M-call day, and the row's process_data (decompressed from TOAST) is the floor.
-- Included in both node queries.
CROSS JOIN LATERAL (
    SELECT NULLIF(n.process_data, '')::jsonb AS process, NULLIF(n.execution_metadata, '')::jsonb AS metadata
    OFFSET 0
) node_json
CROSS JOIN LATERAL (
    SELECT CASE WHEN jsonb_typeof(node_json.process -> 'usage') = 'object' THEN node_json.process -> 'usage'
                ELSE (SELECT CASE WHEN jsonb_typeof(o.outputs -> 'usage') = 'object' THEN o.outputs -> 'usage' END
                      FROM (SELECT NULLIF(n.outputs, '')::jsonb AS outputs OFFSET 0) o) END AS usage
    OFFSET 0
) node_usage
