-- Events of a fetch in progress, written batch by batch in short connections while Dify is read,
-- then moved into raw_usage_events for the fetched window in one transaction. Rows are keyed by
-- their fetch: a fetch only ever moves its own, and drops them when it fails. A killed fetch's rows
-- are never moved by another; a later fetch deletes them once they are stale.
CREATE TABLE IF NOT EXISTS raw_usage_events_staging (
    fetch_id          VARCHAR NOT NULL,
    event_id          VARCHAR NOT NULL,
    source            VARCHAR NOT NULL,
    usage_date        DATE NOT NULL,
    occurred_at       TIMESTAMPTZ NOT NULL,
    app_id            VARCHAR NOT NULL,
    app_name          VARCHAR NOT NULL,
    app_mode          VARCHAR NOT NULL,
    user_type         VARCHAR NOT NULL,
    user_id           VARCHAR NOT NULL,
    provider_raw      VARCHAR NOT NULL,
    model_raw         VARCHAR NOT NULL,
    input_tokens      BIGINT NOT NULL,
    output_tokens     BIGINT NOT NULL,
    total_tokens      BIGINT NOT NULL,
    cost              DECIMAL(38, 10) NOT NULL,
    currency          VARCHAR,
    priced            BOOLEAN NOT NULL,
    approximate       BOOLEAN NOT NULL,
    conversation_id   VARCHAR,
    message_id        VARCHAR,
    workflow_run_id   VARCHAR,
    node_type         VARCHAR,
    staged_at         TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
