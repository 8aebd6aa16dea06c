"""The FHIR façade at ``/fhir`` and the one error model (OperationOutcome)."""
