"""The checking engine: arguments, batched evaluation, finite differences, the tape, tolerances, verdicts and check."""
