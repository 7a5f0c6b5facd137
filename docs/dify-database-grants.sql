-- A least-privilege, read-only login role for dify_meter's database source (docs/dify-database.md).
-- For the DBA: run as a superuser or the database owner; adapt the role name, password and database
-- name. Column grants only: no `accounts` (password hashes) and no message text.

CREATE ROLE dify_meter_ro LOGIN PASSWORD 'change-me';  -- once; rotate with ALTER ROLE ... PASSWORD
ALTER ROLE dify_meter_ro SET default_transaction_read_only = on;
ALTER ROLE dify_meter_ro SET statement_timeout = '300s';
ALTER ROLE dify_meter_ro SET idle_in_transaction_session_timeout = '600s';
ALTER ROLE dify_meter_ro SET timezone = 'UTC';

GRANT CONNECT ON DATABASE dify TO dify_meter_ro;
GRANT USAGE ON SCHEMA public TO dify_meter_ro;

GRANT SELECT (id, name, status) ON tenants TO dify_meter_ro;
GRANT SELECT (id, tenant_id, name, mode, status, is_universal) ON apps TO dify_meter_ro;
GRANT SELECT (id, app_id, model) ON app_model_configs TO dify_meter_ro;
GRANT SELECT (id, app_id, app_model_config_id, override_model_configs, mode, from_end_user_id,
              from_account_id, invoke_from, is_deleted, created_at, updated_at)
    ON conversations TO dify_meter_ro;
GRANT SELECT (id, app_id, conversation_id, model_provider, model_id, message_tokens, answer_tokens,
              total_price, currency, message_metadata, workflow_run_id, status, invoke_from, created_at)
    ON messages TO dify_meter_ro;
GRANT SELECT (id, tenant_id, app_id, type, session_id) ON end_users TO dify_meter_ro;
GRANT SELECT (id, tenant_id, app_id, triggered_from, status, total_tokens, created_at, finished_at)
    ON workflow_runs TO dify_meter_ro;
GRANT SELECT (id, tenant_id, app_id, workflow_run_id, created_from, created_by_role, created_by, created_at)
    ON workflow_app_logs TO dify_meter_ro;
GRANT SELECT (id, tenant_id, app_id, workflow_run_id, node_id, node_type, title, status,
              process_data, outputs, execution_metadata, created_at)
    ON workflow_node_executions TO dify_meter_ro;

-- Which Dify version the database is at.
GRANT SELECT ON alembic_version TO dify_meter_ro;

-- Node values moved to file storage are recorded here; the table is absent from some installs.
DO $$
BEGIN
    IF to_regclass('public.workflow_node_execution_offload') IS NOT NULL THEN
        GRANT SELECT (node_execution_id, type) ON workflow_node_execution_offload TO dify_meter_ro;
    END IF;
END
$$;

-- Optional, on a replica: lets dify_meter read the WAL receiver's state, so that a day after which Dify wrote
-- nothing is not held back as "replica lagging" (pg_read_all_stats also shows other sessions' statistics).
-- GRANT pg_read_all_stats TO dify_meter_ro;
