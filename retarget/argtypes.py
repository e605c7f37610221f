"""Number checks for command-line options, shared by every `emorig` subcommand.

Each takes the option's text and returns the value, or raises argparse's
ArgumentTypeError, which argparse turns into one usage line and exit code 2.
"""

from __future__ import annotations

import argparse
import math


def _number(text: str, kind=float):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a {'whole ' if kind is int else ''}number: {text!r}") from None


def positive(text: str) -> float:
    value = _number(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text!r}")
    return value


def fraction(text: str) -> float:
    """0 to 1, both included."""
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, not {text!r}")
    return value


def fraction_below_one(text: str) -> float:
    """0 up to, not including, 1 (a share of something that must leave a rest)."""
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction from 0 to below 1, not {text!r}")
    return value


def count(text: str) -> int:
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {text!r}")
    return value
