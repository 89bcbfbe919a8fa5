"""Signaling: live rooms for video sessions.

Owns who may join which session (a projection of ``appointment.scheduled``), the waiting room,
admit/decline, the SDP/ICE relay between admitted peers over the ``rapport.signal.v1``
WebSocket protocol (docs/signaling.md), and the events that say what happened in each call.
"""
