"""Records: the log of each working partnership.

Owns appointments, session records (built from what signaling reports), goals and goal
updates, the audit log, and its own projection of registered users. Later: availability,
goal agreement, check-ins, notes and FHIR export.
"""
