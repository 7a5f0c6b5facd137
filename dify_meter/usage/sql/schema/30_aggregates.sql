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
