-- One row per usage event (usage-semantics.md). Re-reading a day replaces that day's rows, and
-- any row with the same event_id, so an event is never stored twice (no index: it would only slow
-- the bulk window replace that guarantees this).
CREATE TABLE IF NOT EXISTS raw_usage_events (
    event_id          VARCHAR NOT NULL,
    source            VARCHAR NOT NULL,   -- message | node
    usage_date        DATE NOT NULL,      -- calendar day of occurred_at in DIFY_TIMEZONE
    occurred_at       TIMESTAMPTZ NOT NULL,
    app_id            VARCHAR NOT NULL,
    app_name          VARCHAR NOT NULL,
    app_mode          VARCHAR NOT NULL,
    user_type         VARCHAR NOT NULL,   -- end_user | account
    user_id           VARCHAR NOT NULL,
    provider_raw      VARCHAR NOT NULL,
    model_raw         VARCHAR NOT NULL,
    input_tokens      BIGINT NOT NULL,
    output_tokens     BIGINT NOT NULL,
    total_tokens      BIGINT NOT NULL,
    cost              DECIMAL(38, 10) NOT NULL,
    currency          VARCHAR,            -- as reported; NULL when Dify reported none
    priced            BOOLEAN NOT NULL,
    approximate       BOOLEAN NOT NULL,
    conversation_id   VARCHAR,
    message_id        VARCHAR,
    workflow_run_id   VARCHAR,
    node_type         VARCHAR,
    loaded_at         TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
