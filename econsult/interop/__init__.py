"""Interoperability: FHIR R4 mapping, the consult letter, DICOM export."""
