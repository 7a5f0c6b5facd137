-- Message events of one window: chat, agent-chat and agent apps, and completion apps' completion conversations.
-- JSON text is parsed once each into jsonb (OFFSET 0 keeps the lateral from being inlined into every use):
-- every `->` on a `json` value would scan the text again. jsonb keeps numbers exact (numeric) and prices are strings.
SELECT m.id::text AS message_id, m.conversation_id::text AS conversation_id, m.app_id::text AS app_id,
       m.created_at, m.message_tokens, m.answer_tokens, m.total_price AS row_price, m.currency AS row_currency,
       meta.usage ->> 'total_price' AS usage_price, meta.usage ->> 'currency' AS usage_currency,
       NULLIF(m.model_provider, '') AS message_provider, NULLIF(m.model_id, '') AS message_model,
       config.model ->> 'provider' AS config_provider, config.model ->> 'name' AS config_model,
       end_user.session_id, c.from_account_id::text AS from_account_id, c.from_end_user_id::text AS from_end_user_id,
       m.invoke_from AS message_invoke_from, c.invoke_from AS conversation_invoke_from
FROM messages m
JOIN conversations c ON c.id = m.conversation_id
LEFT JOIN app_model_configs app_config ON app_config.id = c.app_model_config_id
LEFT JOIN end_users end_user ON end_user.id = c.from_end_user_id
CROSS JOIN LATERAL (
    SELECT NULLIF(m.message_metadata, '')::jsonb -> 'usage' AS usage  -- JSON null gives NULL prices below
    OFFSET 0
) meta
CROSS JOIN LATERAL (
    SELECT COALESCE(NULLIF(c.override_model_configs, '')::jsonb -> 'model',
                    NULLIF(app_config.model, '')::jsonb) AS model
    OFFSET 0
) config
WHERE m.created_at >= %(lo)s AND m.created_at < %(hi)s
  AND NOT c.is_deleted
  AND (m.app_id = ANY(%(chat_app_ids)s::uuid[])
       OR (m.app_id = ANY(%(completion_app_ids)s::uuid[]) AND c.mode = 'completion'))
