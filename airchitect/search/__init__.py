"""Search over the design space: exhaustive, constrained BO, random and genetic labellers."""
