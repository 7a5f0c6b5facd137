"""The recorded New Agent app of Dify 1.16.1 as database rows: what its creation wrote, then its seed."""

from __future__ import annotations

import psycopg

from dify_meter_tests.support.postgres import FIXTURES, OWNER_ID, TENANT_ID, seed_sql

RECORDING = FIXTURES / "dify-1.16.1"
AGENT_APP = "c9b7946a-b798-49f1-9008-195d3b63c68a"  # the id POST /console/api/agent returned (INDEX.md)
AGENT_CONFIG, DEBUG_CONVERSATION = "b1a00000-0000-4000-8000-000000000001", "c1a00000-0000-4000-8000-0000000000d0"
# what the recorded agent creation wrote (INDEX.md, files 10-*): the app, a model-less config, the roster agent's
# debug conversation of the owner (model_provider NULL, model_id '') and its agent_debug_conversations row
AGENT_CREATION = f"""
INSERT INTO apps (id, tenant_id, name, mode, icon_type, icon, icon_background, app_model_config_id, status, enable_site,
  enable_api, description, created_by, updated_by, created_at, updated_at)
VALUES ('{AGENT_APP}', '{TENANT_ID}', 'Agent Desk', 'agent', 'emoji', '🤖', '#E0F2FE', '{AGENT_CONFIG}', 'normal', true,
  true, 'New Agent app (mode agent)', '{OWNER_ID}', '{OWNER_ID}', '2026-12-03 10:00:00', '2026-12-03 10:00:00');
INSERT INTO app_model_configs (id, app_id, created_by, updated_by, created_at, updated_at)
VALUES ('{AGENT_CONFIG}', '{AGENT_APP}', '{OWNER_ID}', '{OWNER_ID}', '2026-12-03 10:00:00', '2026-12-03 10:00:00');
INSERT INTO conversations (id, app_id, app_model_config_id, model_provider, model_id, mode, name, inputs, status,
  from_source, from_end_user_id, from_account_id, invoke_from, dialogue_count, created_at, updated_at)
VALUES ('{DEBUG_CONVERSATION}', '{AGENT_APP}', NULL, NULL, '', 'agent', 'Debug', '{{}}', 'normal', 'console', NULL,
  '{OWNER_ID}', 'debugger', 0, '2026-12-03 10:00:00', '2026-12-03 10:00:00');
INSERT INTO agent_debug_conversations (tenant_id, agent_id, app_id, account_id, conversation_id)
VALUES ('{TENANT_ID}', gen_random_uuid(), '{AGENT_APP}', '{OWNER_ID}', '{DEBUG_CONVERSATION}');
"""


def agent_seed() -> str:
    return (
        seed_sql(RECORDING / "fixture-seed-agent.sql")
        .replace(":'agent_app_id'", f"'{AGENT_APP}'")
        .replace(":'agent_amc_id'", f"'{AGENT_CONFIG}'")
        .replace(":'agent_tenant_id'", f"'{TENANT_ID}'")
        .replace(":'debug_conv_id'", f"'{DEBUG_CONVERSATION}'")
    )


def add_agent_app(url: str) -> None:
    """Write the recorded agent creation and the agent seed into the (seeded 1.16.1) database of `url`."""
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(AGENT_CREATION)
        admin.execute(agent_seed())
