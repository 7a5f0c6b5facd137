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
