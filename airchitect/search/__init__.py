"""Search over the design space: exhaustive, constrained BO, random and genetic labellers, and
the certified whole-network optimum (:mod:`airchitect.search.network_exact`)."""
