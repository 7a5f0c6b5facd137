n.id::text AS node_execution_id, n.node_type, n.workflow_run_id::text AS workflow_run_id,
       node_json.process ->> 'model_provider' AS provider, node_json.process ->> 'model_name' AS model,
       node_usage.usage IS NOT NULL AS has_usage,
       node_usage.usage ->> 'prompt_tokens' AS prompt_tokens, node_usage.usage ->> 'completion_tokens' AS completion_tokens,
       node_usage.usage ->> 'total_price' AS usage_price, node_usage.usage ->> 'currency' AS usage_currency,
       node_json.metadata ->> 'total_price' AS metadata_price, node_json.metadata ->> 'currency' AS metadata_currency,
       node_json.metadata ->> 'total_tokens' AS metadata_tokens
