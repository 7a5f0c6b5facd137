"""Facts of the API_Meter contract that the exporter, its checks and the sandbox server share."""

USAGE_PATH = "/v1/usage"
