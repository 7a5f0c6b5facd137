"""Argument types shared by the `dify-meter` commands."""

import argparse
from datetime import date


def day_argument(text: str) -> date:
    """A YYYY-MM-DD command-line date; anything else is a usage error (exit 2) that says the form."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None
