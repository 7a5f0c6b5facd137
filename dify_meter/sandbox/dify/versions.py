"""What the simulated Dify answers differently by version: the recorded differences D1-D7 of
`dify_meter_tests/fixtures/dify-1.14.1/INDEX.md` (1.12.1 is the baseline; login differences are in
`accounts.LoginBehaviour`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dify_meter.sandbox.dify.queries import DIFY_PYDANTIC_DOCS

RECORDED_VERSIONS = ("1.12.1", "1.14.1", "1.16.1")
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def version_number(version: str) -> tuple[int, int, int]:
    found = _VERSION.fullmatch(version)
    if found is None:
        raise ValueError(f"a Dify version looks like 1.12.1, got {version!r}")
    major, minor, patch = (int(part) for part in found.groups())
    return major, minor, patch


@dataclass(frozen=True)
class VersionBehaviour:
    version: str
    list_items_carry_model: bool  # D1: conversation list items give the conversation's own model
    detail_read_moves_updated_at: bool  # D3: the first detail read bumps updated_at (it always sets read_at)
    null_status_count_without_runs: bool  # D2: null instead of an object of nulls; advanced-chat counts `paused`
    message_extra_contents: bool  # D4: messages carry `extra_contents`
    sensitive_word_config_object: bool  # D5: `sensitive_word_avoidance.config: {}` instead of `configs: []`
    pydantic_docs: str  # D6: the documentation link in validation errors
    agent_apps: bool  # 1.16+ (E1-E6 of the 1.16.1 recording): mode `agent`, left out of the default app list,
    # listed with `mode=agent`; app permission fields, thought `answer`, workspace plan null, member roles
    validates_end_user_type: bool  # E4 (1.16.1): a conversation list page holding an end user of a type Dify
    # does not know fails with 400

    @classmethod
    def of(cls, version: str) -> VersionBehaviour:
        # 1.13.x was never recorded: it answers as 1.12.1 here, the conservative side (details are read).
        number = version_number(version)
        since_1_14 = number >= (1, 14, 0)
        return cls(
            version,
            list_items_carry_model=since_1_14,
            detail_read_moves_updated_at=not since_1_14,
            null_status_count_without_runs=since_1_14,
            message_extra_contents=since_1_14,
            sensitive_word_config_object=since_1_14,
            pydantic_docs="https://errors.pydantic.dev/2.12/" if since_1_14 else DIFY_PYDANTIC_DOCS,
            agent_apps=number >= (1, 16, 0),
            validates_end_user_type=number >= (1, 16, 0),
        )

    def error_body(self, body: Any) -> Any:
        """An error body with this version's pydantic documentation link."""
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            return {**body, "message": body["message"].replace(DIFY_PYDANTIC_DOCS, self.pydantic_docs)}
        return body
