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
