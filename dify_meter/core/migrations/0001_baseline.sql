-- Version 1: the schema as it was before numbered migrations (the old dify_meter/usage/sql/schema/*.sql),
-- plus the weekly and monthly roll-up views of the daily aggregates. Every statement is idempotent, so
-- it also brings a file made by the hash-checked schema to version 1 without touching its rows.

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

-- Conversation details read from Dify, at most once ever (the read marks the conversation read
-- in Dify and moves its updated_at). Kept even when a run fails later, so nothing is read twice.
CREATE TABLE IF NOT EXISTS dify_conversation_details (
    conversation_id     VARCHAR PRIMARY KEY,
    app_id              VARCHAR NOT NULL,
    provider            VARCHAR,
    model               VARCHAR,
    detail_updated_at   TIMESTAMPTZ,
    read_at             TIMESTAMPTZ NOT NULL,
    completion_message  JSON
);

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

-- Daily aggregates of normalized usage (usage-semantics.md, "Aggregates"). Each is rebuilt from
-- raw_usage_events for a window of days in one transaction. Money never mixes currencies: currency
-- is part of the key of per_user, per_app and workspace; a per_model key whose priced events have
-- two currencies is marked currency_conflict and held back from API_Meter.
CREATE TABLE IF NOT EXISTS usage_per_model (
    usage_date          DATE NOT NULL,
    provider            VARCHAR NOT NULL,
    model               VARCHAR NOT NULL,
    publisher           VARCHAR,
    input_tokens        BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    total_tokens        BIGINT NOT NULL,
    request_count       BIGINT NOT NULL,
    cost                DECIMAL(38, 10) NOT NULL,
    currency            VARCHAR NOT NULL,
    currency_conflict   BOOLEAN NOT NULL,
    unpriced_events     BIGINT NOT NULL,
    approximate_events  BIGINT NOT NULL,
    raw_models          VARCHAR[] NOT NULL,   -- the raw "provider / model" ids merged into this row
    built_at            TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS usage_per_user (
    usage_date          DATE NOT NULL,
    user_type           VARCHAR NOT NULL,
    user_id             VARCHAR NOT NULL,
    currency            VARCHAR NOT NULL,
    input_tokens        BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    total_tokens        BIGINT NOT NULL,
    request_count       BIGINT NOT NULL,
    cost                DECIMAL(38, 10) NOT NULL,
    unpriced_events     BIGINT NOT NULL,
    approximate_events  BIGINT NOT NULL,
    built_at            TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS usage_per_app (
    usage_date          DATE NOT NULL,
    app_id              VARCHAR NOT NULL,
    currency            VARCHAR NOT NULL,
    app_name            VARCHAR NOT NULL,
    app_mode            VARCHAR NOT NULL,
    input_tokens        BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    total_tokens        BIGINT NOT NULL,
    request_count       BIGINT NOT NULL,
    cost                DECIMAL(38, 10) NOT NULL,
    unpriced_events     BIGINT NOT NULL,
    approximate_events  BIGINT NOT NULL,
    built_at            TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS usage_workspace (
    usage_date          DATE NOT NULL,
    currency            VARCHAR NOT NULL,
    input_tokens        BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    total_tokens        BIGINT NOT NULL,
    request_count       BIGINT NOT NULL,
    cost                DECIMAL(38, 10) NOT NULL,
    unpriced_events     BIGINT NOT NULL,
    approximate_events  BIGINT NOT NULL,
    built_at            TIMESTAMPTZ NOT NULL
);

-- Delivery to API_Meter (dify_meter/api_meter/ledger.py and spool.py).
--
-- api_meter_ledger: one row per key per final attempt of a request, delivered or failed, with the
-- values sent, so "what does API_Meter hold?" is answered locally and unchanged keys are not re-sent.
-- inserted/updated are the counts API_Meter answered for the whole request (batch_id), not per key.
CREATE SEQUENCE IF NOT EXISTS api_meter_ledger_seq;

CREATE TABLE IF NOT EXISTS api_meter_ledger (
    attempt_seq     BIGINT PRIMARY KEY DEFAULT nextval('api_meter_ledger_seq'),
    batch_id        VARCHAR NOT NULL,
    usage_date      DATE NOT NULL,
    provider        VARCHAR NOT NULL,
    model           VARCHAR NOT NULL,
    payload_hash    VARCHAR NOT NULL,
    input_tokens    BIGINT NOT NULL,
    output_tokens   BIGINT NOT NULL,
    total_tokens    BIGINT NOT NULL,
    request_count   BIGINT NOT NULL,
    cost            DECIMAL(38, 10) NOT NULL,
    currency        VARCHAR NOT NULL,
    attempted_at    TIMESTAMPTZ NOT NULL,
    outcome         VARCHAR NOT NULL CHECK (outcome IN ('delivered', 'failed')),
    http_status     INTEGER,            -- NULL when no answer came (timeout, connection error)
    attempts        INTEGER NOT NULL,   -- HTTP requests made for this batch, retries included
    inserted        INTEGER,
    updated         INTEGER,
    response_text   VARCHAR,            -- truncated; never holds a secret
    run_id          VARCHAR,
    data_version    TIMESTAMPTZ         -- built_at of the usage_per_model rows the values came from
);

-- api_meter_spool: one row per usage_date whose delivery failed, until it is resolved.
-- pending: replayed when next_attempt_at is due; failed: permanent error or MAX_RETRIES replays used
-- up, waits for a person (dify-meter spool); resolved: delivered later, kept for history.
CREATE TABLE IF NOT EXISTS api_meter_spool (
    usage_date       DATE PRIMARY KEY,
    status           VARCHAR NOT NULL CHECK (status IN ('pending', 'failed', 'resolved')),
    permanent        BOOLEAN NOT NULL,
    reason           VARCHAR NOT NULL,  -- the failure that opened the entry
    last_error       VARCHAR NOT NULL,  -- the latest failure
    http_status      INTEGER,
    attempts         INTEGER NOT NULL,  -- replays made so far
    first_failed_at  TIMESTAMPTZ NOT NULL,
    last_failed_at   TIMESTAMPTZ NOT NULL,
    last_attempt_at  TIMESTAMPTZ NOT NULL,
    next_attempt_at  TIMESTAMPTZ,       -- NULL unless pending
    data_version     TIMESTAMPTZ,       -- built_at of the aggregate the failed send was based on
    resolved_at      TIMESTAMPTZ,
    resolution       VARCHAR
);

-- Roll-up views: each daily aggregate table summed over ISO weeks (Monday first) or calendar months.
CREATE OR REPLACE VIEW usage_per_model_weekly AS
SELECT date_trunc('week', usage_date)::DATE AS period_start,
       'weekly' AS period,
       provider, model, currency,
       sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens,
       sum(total_tokens) AS total_tokens,
       sum(request_count) AS request_count,
       sum(cost) AS cost,
       sum(unpriced_events) AS unpriced_events,
       sum(approximate_events) AS approximate_events
FROM usage_per_model
GROUP BY period_start, period, provider, model, currency;

CREATE OR REPLACE VIEW usage_per_model_monthly AS
SELECT date_trunc('month', usage_date)::DATE AS period_start,
       'monthly' AS period,
       provider, model, currency,
       sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens,
       sum(total_tokens) AS total_tokens,
       sum(request_count) AS request_count,
       sum(cost) AS cost,
       sum(unpriced_events) AS unpriced_events,
       sum(approximate_events) AS approximate_events
FROM usage_per_model
GROUP BY period_start, period, provider, model, currency;

CREATE OR REPLACE VIEW usage_per_user_weekly AS
SELECT date_trunc('week', usage_date)::DATE AS period_start,
       'weekly' AS period,
       user_type, user_id, currency,
       sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens,
       sum(total_tokens) AS total_tokens,
       sum(request_count) AS request_count,
       sum(cost) AS cost,
       sum(unpriced_events) AS unpriced_events,
       sum(approximate_events) AS approximate_events
FROM usage_per_user
GROUP BY period_start, period, user_type, user_id, currency;

CREATE OR REPLACE VIEW usage_per_user_monthly AS
SELECT date_trunc('month', usage_date)::DATE AS period_start,
       'monthly' AS period,
       user_type, user_id, currency,
       sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens,
       sum(total_tokens) AS total_tokens,
       sum(request_count) AS request_count,
       sum(cost) AS cost,
       sum(unpriced_events) AS unpriced_events,
       sum(approximate_events) AS approximate_events
FROM usage_per_user
GROUP BY period_start, period, user_type, user_id, currency;

CREATE OR REPLACE VIEW usage_per_app_weekly AS
SELECT date_trunc('week', usage_date)::DATE AS period_start,
       'weekly' AS period,
       app_id, currency,
       max(app_name) AS app_name,
       max(app_mode) AS app_mode,
       sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens,
       sum(total_tokens) AS total_tokens,
       sum(request_count) AS request_count,
       sum(cost) AS cost,
       sum(unpriced_events) AS unpriced_events,
       sum(approximate_events) AS approximate_events
FROM usage_per_app
GROUP BY period_start, period, app_id, currency;

CREATE OR REPLACE VIEW usage_per_app_monthly AS
SELECT date_trunc('month', usage_date)::DATE AS period_start,
       'monthly' AS period,
       app_id, currency,
       max(app_name) AS app_name,
       max(app_mode) AS app_mode,
       sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens,
       sum(total_tokens) AS total_tokens,
       sum(request_count) AS request_count,
       sum(cost) AS cost,
       sum(unpriced_events) AS unpriced_events,
       sum(approximate_events) AS approximate_events
FROM usage_per_app
GROUP BY period_start, period, app_id, currency;

CREATE OR REPLACE VIEW usage_workspace_weekly AS
SELECT date_trunc('week', usage_date)::DATE AS period_start,
       'weekly' AS period,
       currency,
       sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens,
       sum(total_tokens) AS total_tokens,
       sum(request_count) AS request_count,
       sum(cost) AS cost,
       sum(unpriced_events) AS unpriced_events,
       sum(approximate_events) AS approximate_events
FROM usage_workspace
GROUP BY period_start, period, currency;

CREATE OR REPLACE VIEW usage_workspace_monthly AS
SELECT date_trunc('month', usage_date)::DATE AS period_start,
       'monthly' AS period,
       currency,
       sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens,
       sum(total_tokens) AS total_tokens,
       sum(request_count) AS request_count,
       sum(cost) AS cost,
       sum(unpriced_events) AS unpriced_events,
       sum(approximate_events) AS approximate_events
FROM usage_workspace
GROUP BY period_start, period, currency;
