"""Validation against published measurements (end_to_end.csv schema)."""
