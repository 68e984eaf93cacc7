"""POT's ``api.samples.utils`` (see ``.argument_parser``)."""

from __future__ import annotations
