"""Errors of the database source. Their messages name host, port, database and role, never a password."""

from __future__ import annotations

import re

from psycopg.conninfo import conninfo_to_dict


class DatabaseSourceError(RuntimeError):
    """The day cannot be read from Dify's PostgreSQL; nothing of it was written (the caller keeps its rows)."""


class ReplicaLagError(DatabaseSourceError):
    """The replica has not replayed up to the window's end yet: retry the day later."""


_PASSWORD_IN_URL = re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)[^@\s]*@")
_PASSWORD_IN_CONNINFO = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def redact(text: str, password: str | None = None) -> str:
    """`text` with any password (in a URL, a key=value conninfo, or the known one verbatim) replaced by ***."""
    if password:
        text = text.replace(password, "***")
    text = _PASSWORD_IN_URL.sub(r"\1***@", text)
    return _PASSWORD_IN_CONNINFO.sub(r"\1***", text)


def describe_target(url: str) -> str:
    """user@host:port/dbname of a connection URL, for messages (no password)."""
    try:
        parts = conninfo_to_dict(url)
    except Exception:  # an unparsable URL: say so without repeating it
        return "(unparsable URL)"
    host, port = parts.get("host", "localhost"), parts.get("port", 5432)
    return f"{parts.get('user', '?')}@{host}:{port}/{parts.get('dbname', '?')}"


def password_of(url: str) -> str | None:
    try:
        value = conninfo_to_dict(url).get("password")
    except Exception:
        return None
    return str(value) if value else None
