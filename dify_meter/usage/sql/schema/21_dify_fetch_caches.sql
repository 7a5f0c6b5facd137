-- What a fetch reuses instead of reading Dify again (dify_meter/sources/console/caches.py says when it may).

-- Workflow and advanced-chat runs that had ended when read: their usage-bearing nodes never change.
CREATE TABLE IF NOT EXISTS dify_finished_runs (
    workflow_run_id   VARCHAR NOT NULL,
    app_id            VARCHAR NOT NULL,
    status            VARCHAR NOT NULL,
    read_at           TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

CREATE TABLE IF NOT EXISTS dify_finished_run_nodes (
    workflow_run_id   VARCHAR NOT NULL,
    position          INTEGER NOT NULL,   -- order in the run's node-executions answer
    node_execution_id VARCHAR NOT NULL,
    node_type         VARCHAR NOT NULL,
    provider          VARCHAR,
    model             VARCHAR,
    input_tokens      BIGINT,             -- NULL: tokens reported without a prompt/completion split
    output_tokens     BIGINT,
    price             DECIMAL(38, 10),
    currency          VARCHAR,
    reported_tokens   BIGINT
);

-- Every message of a chat conversation, with what its list item showed when they were read: while
-- the list shows the same updated_at (or the one our detail read gave it) and message_count, they are
-- all it has.
CREATE TABLE IF NOT EXISTS dify_conversation_reads (
    conversation_id   VARCHAR NOT NULL,
    app_id            VARCHAR NOT NULL,
    listed_updated_at TIMESTAMPTZ NOT NULL,
    message_count     INTEGER NOT NULL,
    read_at           TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

CREATE TABLE IF NOT EXISTS dify_conversation_messages (
    conversation_id   VARCHAR NOT NULL,
    message_id        VARCHAR NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    input_tokens      BIGINT NOT NULL,
    output_tokens     BIGINT NOT NULL,
    price             DECIMAL(38, 10),    -- NULL: the message has no usage metadata
    currency          VARCHAR,
    workflow_run_id   VARCHAR
);
