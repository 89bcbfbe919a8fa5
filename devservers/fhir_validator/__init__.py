"""HAPI FHIR's instance validator for FHIR R4 (4.0.1), run offline for the tests."""
