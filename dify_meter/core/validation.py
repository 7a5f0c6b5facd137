"""The forms every layer checks the same way: service URLs, UUIDs and loopback hosts.

Each check raises a ValueError whose message says the expected form and quotes the value, never a
variable name: the caller knows which setting it checked and prefixes it (`settings.py` through
pydantic, the sender and the console client themselves).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit
from uuid import UUID

LOOPBACK_NAMES = frozenset({"localhost"})
UUID_EXAMPLE = "12345678-1234-1234-1234-123456789abc"
# The form a UUID takes on the wire (API_Meter's tenant_id): 8-4-4-4-12 hex digits, nothing around them.
_UUID_TEXT = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_loopback_host(host: str | None) -> bool:
    """127.0.0.0/8, ::1 (bracketed or not) and localhost: the hosts plain http:// is allowed for."""
    if not host:
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def http_url(value: str, *, https_unless_loopback: bool = False) -> str:
    """`value` without surrounding blanks and trailing slashes, if it is an http(s) URL with a host.

    `https_unless_loopback`: plain http:// only for a loopback host (API_Meter's rule, docs/api-meter.md).
    """
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http(s) URL such as https://host.example.com, got {value!r}")
    if https_unless_loopback and parts.scheme != "https" and not is_loopback_host(parts.hostname):
        raise ValueError(f"must use https:// (http:// is allowed only for loopback hosts), got {value!r}")
    return url.rstrip("/")


def canonical_uuid(value: object) -> str:
    """The lower-case hyphenated form of any UUID spelling Python's `UUID` reads."""
    try:
        if isinstance(value, str):
            return str(UUID(value.strip()))
    except ValueError:
        pass
    raise ValueError(f"expected a UUID such as {UUID_EXAMPLE}, got {value!r}")


def is_uuid(value: object) -> bool:
    """Whether `value` is any UUID spelling Python's `UUID` reads (braces, urn:uuid:, no hyphens)."""
    try:
        canonical_uuid(value)
    except ValueError:
        return False
    return True


def is_uuid_text(value: object) -> bool:
    """Whether `value` is a UUID in its wire form (8-4-4-4-12 hex digits), as a strict server demands."""
    return isinstance(value, str) and bool(_UUID_TEXT.match(value))
