"""Facts of the API_Meter contract that the exporter, its checks and the sandbox server share."""

USAGE_PATH = "/v1/usage"
# Answers the contract calls transient (docs/api-meter.md): retried, then the day is spooled.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
