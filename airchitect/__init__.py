"""airchitect: instant design-space recommendations for DNN accelerators."""

__version__ = "0.1.0"
