"""Errors of the Dify client. Messages name the request and the app, never a credential."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AppLabel:
    """Just enough of an app to name it in an error message."""

    id: str
    name: str

    def __str__(self) -> str:
        return f"app {self.name!r} ({self.id})"


class DifyError(RuntimeError):
    """Base of every error raised while reading Dify."""


class DifyResponseError(DifyError):
    """A 2xx response whose body is not what the endpoint documents."""


class DifyConnectionError(DifyError):
    """Dify could not be reached (connection refused, timeout, TLS)."""


class DifyHTTPError(DifyError):
    """A non-2xx answer from Dify."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None,
        endpoint: str,
        app: AppLabel | None,
        dify_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.endpoint = endpoint
        self.app = app
        self.dify_message = dify_message


class DifyAuthError(DifyHTTPError):
    """Dify does not accept the credentials: a 401 with the admin key (wrong key or workspace id, admin
    keys disabled), or a login that failed, or a session Dify still refuses after logging in again."""


class DifyRequestNotAllowed(DifyError):
    """The client was asked to send a request outside its read-only allowlist; nothing was sent."""


class DifyNotFoundError(DifyHTTPError):
    """404 on a per-app endpoint: unknown or deleted app, wrong mode, or a vanished conversation."""

    @property
    def app_gone(self) -> bool:
        """True when Dify says the app itself is not there (deleted, abnormal status, wrong mode)."""
        return self.code == "app_not_found"


def describe_request(method: str, endpoint: str, app: AppLabel | None) -> str:
    where = f"{method} {endpoint}"
    return f"{where} for {app}" if app else where


def _error_fields(body: bytes) -> tuple[str | None, str | None]:
    """Dify's error body is {"code", "message", "status"}; anything else yields (None, None)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    code, message = data.get("code"), data.get("message")
    return (code if isinstance(code, str) else None, message if isinstance(message, str) else None)


ADMIN_KEY_HINT = (
    "Check DIFY_API_KEY (Dify's ADMIN_API_KEY) and DIFY_WORKSPACE_ID, and that Dify runs with "
    "ADMIN_API_KEY_ENABLE=true."
)


def dify_says(dify_message: str | None) -> str:
    return f": Dify says: {dify_message}" if dify_message else ""


def full_stop(text: str) -> str:
    """`text` ending a sentence: with a period, unless Dify's message already ended with one."""
    return text if text.endswith((".", "!", "?")) else text + "."


def http_error(
    method: str,
    endpoint: str,
    app: AppLabel | None,
    status: int,
    body: bytes,
    *,
    auth_hint: str = ADMIN_KEY_HINT,
    attempts: int = 1,
    note: str = "",
) -> DifyHTTPError:
    """The exception for a non-2xx answer, classified by status (and Dify's error code).

    `auth_hint` tells which settings to check on a 401; `attempts` > 1 says the status survived retries;
    `note` is a last sentence."""
    code, dify_message = _error_fields(body)
    said = dify_says(dify_message)
    request = describe_request(method, endpoint, app)
    if status == 401:
        return DifyAuthError(
            f"{full_stop(f'{request} was refused with 401{said}')} {auth_hint}",
            status=status,
            code=code,
            endpoint=endpoint,
            app=app,
            dify_message=dify_message,
        )
    if status == 404 and app is not None:
        return DifyNotFoundError(
            f"{request} answered 404 ({code or 'not found'}){said}",
            status=status,
            code=code,
            endpoint=endpoint,
            app=app,
            dify_message=dify_message,
        )
    retried = f" after {attempts} attempts" if attempts > 1 else ""
    message = f"{request} failed with HTTP {status}{f' ({code})' if code else ''}{retried}{said}"
    if status == 404 and not note:
        # Outside an app, Dify knows every path we call: a 404 means the URL leads somewhere else.
        note = (
            "Dify's console API is not at this address: check DIFY_API_URL (the base URL of Dify, "
            "e.g. https://dify.example.com)."
        )
    return DifyHTTPError(
        f"{full_stop(message)} {note}" if note else message,
        status=status,
        code=code,
        endpoint=endpoint,
        app=app,
        dify_message=dify_message,
    )
