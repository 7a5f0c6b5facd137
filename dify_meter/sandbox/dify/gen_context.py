"""What every part of the workspace generator shares: the seeded randomness, ids, days and users."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from dify_meter.sandbox.dify.catalog import Model
from dify_meter.sandbox.dify.tables import Account, EndUser
from dify_meter.sandbox.dify.time import localize
from dify_meter.sandbox.dify.workspace import Workspace

NAMED_SESSIONS = ("alice@corp", "bob@corp", "carol@corp", "dave@corp", "erin@corp", "frank@corp", "grace@corp")
DEVICE_SESSIONS = ("dev-laptop-01", "ci-runner-7")
TRIGGER_SESSION = "DEFAULT-USER"  # the end user Dify creates for trigger (webhook/schedule/plugin) runs


@dataclass
class GenContext:
    rng: random.Random
    ws: Workspace
    timezone: str  # the owner account's: generated days are its calendar days
    start_date: date
    days: int
    scale: float
    web_sessions: list[str] = field(default_factory=list)
    config_models: dict[str, Model] = field(default_factory=dict)  # app_model_config id -> catalog model
    _end_users: dict[tuple[str, str], EndUser] = field(default_factory=dict)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def midnight(self, day_index: int, tz: str | None = None) -> datetime:
        """UTC instant of local midnight starting generated day `day_index` (in `tz`, default the account's)."""
        return localize(datetime.combine(self.start_date + timedelta(days=day_index), time()), tz or self.timezone)

    @property
    def range_end(self) -> datetime:
        return self.midnight(self.days)

    def random_moment(self, day_index: int) -> datetime:
        start, end = self.midnight(day_index), self.midnight(day_index + 1)
        return start + timedelta(seconds=self.rng.randrange(int((end - start).total_seconds())))

    def count(self, per_day: float) -> int:
        """How many things happen on one day: about `per_day` times the scale, never negative."""
        return max(0, round(per_day * self.scale * self.rng.uniform(0.85, 1.15)))

    def end_user(self, app_id: str, session_id: str) -> EndUser:
        """Dify keeps one end user per (app, session): the same person has one id per app."""
        key = (app_id, session_id)
        if key not in self._end_users:
            if session_id == TRIGGER_SESSION:
                kind = "trigger"
            elif session_id.startswith("web-"):
                kind = "browser"  # what Dify writes for a web-app user (1.16 rejects other values)
            else:
                kind = "service-api"
            row = EndUser(self.uuid(), app_id, kind, session_id, session_id, is_anonymous=kind != "service-api")
            self._end_users[key] = row
            self.ws.add(row)
        return self._end_users[key]

    def api_session(self) -> str:
        return self.rng.choice(NAMED_SESSIONS + DEVICE_SESSIONS)

    def web_session(self) -> str:
        return self.rng.choice(self.web_sessions)

    def member(self) -> Account:
        return self.rng.choice([a for a in self.ws.accounts.values() if a.role != "owner"])
