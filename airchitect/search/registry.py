"""Labellers by name, as ``--labeller`` spells them."""

from __future__ import annotations

from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.search.base import DEFAULT_TOP_K, Labeller
from airchitect.space.space import DesignSpace

LABELLERS: tuple[str, ...] = ("exhaustive", "bo", "random", "ga", "graybox")


def make_labeller(
    name: str, space: DesignSpace, top_k: int = DEFAULT_TOP_K, tech: TechTable = DEFAULT_TECH
) -> Labeller:
    """A labeller over ``space``; imports lazily so the exhaustive path never loads torch."""
    if name == "exhaustive":
        from airchitect.search.exhaustive import ExhaustiveLabeller as cls
    elif name == "bo":
        from airchitect.search.bo import ConstrainedBO as cls
    elif name == "random":
        from airchitect.search.random_search import RandomSearch as cls
    elif name == "ga":
        from airchitect.search.genetic import GeneticSearch as cls
    elif name == "graybox":
        from airchitect.search.graybox import GrayBoxSearch as cls
    else:
        raise ValueError(f"field 'labeller' must be one of {', '.join(LABELLERS)}, got {name!r}")
    return cls(space, top_k=top_k, tech=tech)
