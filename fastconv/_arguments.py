"""argparse types for the command line: each parses a string, then checks it with the package's own checks."""

import argparse

from . import _geometry


def _argument_type(parse, check):
    """An argparse ``type`` that parses a string, then checks the value with a _geometry check."""

    def convert(text):
        try:
            return check(parse(text))
        except (ValueError, TypeError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


positive_int = _argument_type(int, lambda v: _geometry.positive_int(v, "value"))


def _at_least_zero(value):
    if value < 0:
        raise ValueError(f"value must be >= 0, got {value}")
    return value


non_negative_int = _argument_type(int, _at_least_zero)
positive_number = _argument_type(float, lambda v: _geometry.real_in(v, "value", 0.0, low_open=True))
non_negative_number = _argument_type(float, lambda v: _geometry.real_in(v, "value", 0.0))
momentum = _argument_type(float, lambda v: _geometry.real_in(v, "value", 0.0, 1.0, high_open=True))
