"""Why a delivery to API_Meter did not complete; each error carries the partial SendReport."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dify_meter.api_meter.report import SendReport


class DeliveryError(Exception):
    """Base of delivery failures. `report` says which batches were delivered before the failure."""

    permanent: bool = False

    def __init__(self, message: str, *, report: SendReport | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.report = report


class PermanentDeliveryError(DeliveryError):
    """API_Meter refused the request (400/401/403/404/413 of one record, or an unexpected status).

    Sending the same data again cannot succeed: keep it and fix the cause named in the message.
    """

    permanent = True

    def __init__(
        self,
        status: int,
        message: str,
        details: list[dict[str, Any]] | None = None,
        *,
        report: SendReport | None = None,
    ) -> None:
        super().__init__(message, report=report)
        self.status = status
        self.details = details or []


class TransientDeliveryError(DeliveryError):
    """Every retry of a transient failure (429, 5xx, timeout, connection error) failed."""

    def __init__(
        self,
        message: str,
        *,
        attempts: int,
        last_error: str,
        last_status: int | None,
        report: SendReport | None = None,
    ) -> None:
        super().__init__(message, report=report)
        self.attempts = attempts
        self.last_error = last_error
        self.last_status = last_status
