"""Detectors over signed evidence: moved to the core, :mod:`a2a_coop.protocol.audit`.

This module keeps the names the population simulator (:mod:`reference_agents.sim`) imports.
"""

from __future__ import annotations

from a2a_coop.protocol.audit import BrokenReservation, audit, broken_reservations

__all__ = ["BrokenReservation", "audit", "broken_reservations"]
