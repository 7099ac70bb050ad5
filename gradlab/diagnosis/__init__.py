"""Diagnosis: why a gradient came back None (why_none), and which operation makes a gradient wrong (locate)."""
