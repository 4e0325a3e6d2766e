"""The analytical cost model and the mapper."""
