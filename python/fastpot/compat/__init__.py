"""Compatibility with POT's internals that custom engines and scripts call.

POT's custom engines (cascades such as MTCNN) subclass ``IEEngine`` and drive its protected
members and ``engines.utils``; :mod:`fastpot.compat.pot_engine` gives them POT 2023.3's
semantics on top of fastpot's engine. fastpot's own code does not use this layer except
to hand statistics requests to such engines.
"""

from __future__ import annotations
