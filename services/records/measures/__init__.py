"""Measures: standard instruments (PHQ-9, GAD-7, WAI-SR) assigned with a cadence, answered by
the client, scored, and read as trends, reliable change and recovery.

The instruments are FHIR Questionnaires (``questionnaires/``); scoring is ``rules``. The FHIR
export reads responses through ``client_responses``.
"""

from __future__ import annotations

from services.records.measures.repository import list_responses as client_responses
from services.records.measures.rules import Instrument, instrument

__all__ = ["Instrument", "client_responses", "instrument"]
