"""The design space: hardware knobs, mapping knobs, constraints."""
