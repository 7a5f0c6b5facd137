-- Catalog facts that need no privilege: marks of a Dify version for a head this exporter does not know
-- (docs/dify-database.md), the optional offload table, and whether alembic_version can be read.
SELECT to_regclass('agents') IS NOT NULL AND to_regclass('agent_debug_conversations') IS NOT NULL AS has_agents,
       to_regclass('conversation_app_updated_at_idx') IS NOT NULL AS has_conversation_app_updated_at_idx,
       to_regclass('message_created_at_idx') IS NOT NULL AS has_message_created_at_idx,
       to_regclass('workflow_node_execution_offload') IS NOT NULL AS has_offload_table,
       to_regclass('alembic_version') IS NOT NULL AS has_alembic_version,
       COALESCE(has_table_privilege(to_regclass('alembic_version'), 'SELECT'), false) AS alembic_version_readable
