"""LOG_LEVEL applied to the `dify_meter` loggers, in the CLI and in Dagster runs alike."""

import logging

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}


def apply_log_level(level: str) -> None:
    logging.getLogger("dify_meter").setLevel(LEVELS[level])
