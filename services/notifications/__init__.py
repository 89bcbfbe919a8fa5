"""The notifications service: email to people (appointments, reminders, invitations, resets,
safety escalations).

Events consumed from Kafka become one notification per person and event, written to the sent
log in the inbox's transaction; a dispatcher renders each (Jinja2, the person's language and
time zone, an iCalendar attachment for appointments) and sends it over SMTP, retrying on a
schedule until it is sent or recorded as failed for the clinic admin to see.
"""
