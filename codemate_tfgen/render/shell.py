"""Shell quoting for the generated scripts: spec values reach bash only as literal words."""

from __future__ import annotations

from typing import Any


def quote(value: Any) -> str:
    """A spec string or number as one single-quoted bash word that means exactly that text.

    Inside single quotes bash expands nothing ($, `, \\, spaces are literal); a quote itself
    is closed, escaped and reopened. Anything else (lists, maps, booleans, None) has no one
    obvious shell form, so using it is a template bug and fails loudly.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(f"no shell word for {type(value).__name__} {value!r}")
    text = str(value)
    if "\0" in text:
        raise ValueError(f"a shell word cannot hold a NUL character: {text!r}")
    return "'" + text.replace("'", "'\\''") + "'"
