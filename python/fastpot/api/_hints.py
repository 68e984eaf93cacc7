"""Helpers for messages about bad input: close matches, and warnings that point at the user.

A warning raised deep inside fastpot should name the line of the user's script that caused
it (the ``create_pipeline`` or ``pipeline.run`` call), not a line of fastpot: :func:`warn_user`
computes the ``stacklevel`` of the first frame outside fastpot (and outside the drop-in
``openvino.tools.pot`` modules, which only re-export fastpot).
"""

from __future__ import annotations

import difflib
import os
import sys
import warnings
from collections.abc import Iterable
from functools import cache
from types import FrameType

__all__ = ["close_match", "did_you_mean", "warn_user"]

_FASTPOT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_POT_PART = os.sep + os.path.join("openvino", "tools", "pot") + os.sep


@cache
def _internal(filename: str) -> bool:
    """Whether a code object's file is part of fastpot (or the drop-in POT package)."""
    if not filename or filename.startswith("<"):
        return False
    path = os.path.abspath(filename)
    real = os.path.realpath(filename)
    for candidate in (path, real):
        if _POT_PART in candidate:
            return True
        for root in (_FASTPOT_DIR, os.path.realpath(_FASTPOT_DIR)):
            if candidate.startswith(root + os.sep):
                return True
    return False


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the first caller outside fastpot.

    Parameters
    ----------
    message : str
        The warning text.
    category : type of Warning, optional
        Default ``UserWarning``.
    """
    frame: FrameType | None = sys._getframe(1)  # the caller of warn_user
    level = 2  # stacklevel of that caller
    last = level
    while frame is not None:
        last = level
        if not _internal(frame.f_code.co_filename):
            break
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=last)


def close_match(
    word: object, choices: Iterable[object], cutoff: float = 0.6, ignore_case: bool = True
) -> str | None:
    """Return the choice closest to `word` (case-insensitively by default), or None.

    Parameters
    ----------
    word : object
        What the user wrote (converted with ``str``).
    choices : iterable
        The valid spellings.
    cutoff : float, optional
        ``difflib`` similarity in [0, 1] a match needs.
    ignore_case : bool, optional
        Compare case-insensitively (the returned spelling is the choice's own).

    Returns
    -------
    str or None
    """
    options = [str(c) for c in choices]
    text = str(word)
    if ignore_case:
        folded: dict[str, str] = {}
        for option in options:
            folded.setdefault(option.casefold(), option)
        if text.casefold() in folded and folded[text.casefold()] != text:
            return folded[text.casefold()]
        found = difflib.get_close_matches(text.casefold(), list(folded), n=1, cutoff=cutoff)
        return folded[found[0]] if found else None
    found = difflib.get_close_matches(text, options, n=1, cutoff=cutoff)
    return found[0] if found else None


def did_you_mean(word: object, choices: Iterable[object], cutoff: float = 0.6) -> str:
    """``"; did you mean 'x'?"`` for the close match of `word`, else ``""``."""
    match = close_match(word, choices, cutoff)
    return f"; did you mean {match!r}?" if match is not None and match != str(word) else ""
