"""The etmi-fhir service: Flask API, FHIR façade, validation, store and EHR sync."""
