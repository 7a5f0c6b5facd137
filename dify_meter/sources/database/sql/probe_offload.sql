-- Node values Dify moved to file storage (truncated rows), counted up to a bound: a count must stay cheap.
SELECT count(*) AS offloaded
FROM (SELECT o.node_execution_id FROM workflow_node_execution_offload o LIMIT %(bound)s) AS bounded
