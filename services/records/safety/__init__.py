"""Safety: flags raised by risk answers, acknowledged by the clinician before a deadline or
escalated to the clinic's on-call, and the client's versioned safety plan."""
