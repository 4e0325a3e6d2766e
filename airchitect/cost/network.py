"""Whole-network evaluation: one hardware design, the best mapping per layer, costs summed."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from airchitect.cost.mapper import (
    DEFAULT_MAPPING_OPTIONS,
    BestMappings,
    MappingOptions,
    Objective,
    best_mappings,
)
from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.space.hardware import HardwareBatch, HardwareConfig
from airchitect.workloads.layer import Layer
from airchitect.workloads.network import Network

#: Per-layer fields summed into the network total (latencies add: layers run one after another).
SUMMED = (
    "macs", "cycles", "seconds", "energy_pj", "energy_mac_pj", "energy_l1_pj", "energy_noc_pj",
    "energy_l2_pj", "energy_dram_pj", "dram_bytes", "noc_words",
)  # fmt: skip


class NoValidMapping(ValueError):
    """A layer has no mapping that fits the hardware's buffers."""


@dataclass(frozen=True)
class LayerResult:
    layer: Layer
    mapping: dict
    cost: dict  # one run of the layer
    repeat: float = 1  # runs per inference; totals weight ``cost`` by it


@dataclass(frozen=True)
class NetworkCost:
    network: str
    hardware: HardwareConfig
    objective: Objective
    layers: tuple[LayerResult, ...]
    total: dict

    def to_dict(self) -> dict:
        return {
            "network": self.network,
            "hardware": self.hardware.to_dict(),
            "objective": self.objective.value,
            "total": self.total,
            "layers": [
                {
                    "layer": r.layer.to_dict(),
                    "repeat": r.repeat,
                    "mapping": r.mapping,
                    "cost": r.cost,
                }
                for r in self.layers
            ],
        }


def layers_summary(cost: NetworkCost, names_shown: int = 3) -> list[dict]:
    """``cost``'s layers with repeated shapes merged, in first-appearance order: one entry per
    distinct (phase, shape, mapping) with ``count`` layers, their summed ``runs`` per inference, the
    first ``names_shown`` of their names, and the cost of one run. An LLM's thousands of layers
    come down to a few dozen entries."""
    groups: dict[tuple, dict] = {}
    for r in cost.layers:
        shape = r.layer.to_dict()
        name = shape.pop("name")
        phase = name.split("/", 1)[0] if "/" in name else ""  # LLM generations: keep phases apart
        key = json.dumps([phase, shape, r.mapping], sort_keys=True, default=str)
        entry = groups.get(key)
        if entry is None:
            entry = groups[key] = {"layer": shape, "count": 0, "runs": 0.0, "names": [],
                                   "mapping": r.mapping, "cost": r.cost}  # fmt: skip
        entry["count"] += 1
        entry["runs"] += r.repeat
        if len(entry["names"]) < names_shown:
            entry["names"].append(name)
    return list(groups.values())


@dataclass(frozen=True)
class DistinctLayers:
    """A network's layers with repeated shapes merged: ``layers[j]`` stands for the network
    layers at ``members[j]`` (ResNet-50's 54 layers have 24 distinct shapes)."""

    network: Network
    layers: tuple[Layer, ...]
    members: tuple[tuple[int, ...], ...]

    @property
    def counts(self) -> np.ndarray:
        """Runs per inference of each distinct shape (the network's repeats summed)."""
        net = self.network
        return np.array([sum(net.repeat(j) for j in m) for m in self.members], dtype=np.float64)


def distinct_layers(network: Network | Layer | DistinctLayers) -> DistinctLayers:
    """The network's distinct layer shapes with their members; given one, returns it."""
    if isinstance(network, DistinctLayers):
        return network
    if isinstance(network, Layer):
        network = Network(network.name, "layer", (network,))
    groups: dict[tuple, list[int]] = {}
    for i, layer in enumerate(network.layers):
        groups.setdefault(dataclasses.replace(layer, name=""), []).append(i)
    layers = tuple(network.layers[m[0]] for m in groups.values())
    return DistinctLayers(network, layers, tuple(tuple(m) for m in groups.values()))


@dataclass(frozen=True)
class NetworkMappings:
    """Best mapping of every distinct layer on each of ``n`` hardware points."""

    hardware: HardwareBatch
    per_layer: tuple[BestMappings, ...]  # one per distinct layer, each of length n
    score: np.ndarray  # (n,) the network objective; inf where some layer has no mapping
    found: np.ndarray  # (n,) every layer has a mapping


def network_score(per_layer: Sequence[BestMappings], counts: np.ndarray, objective) -> np.ndarray:
    """The network objective from per-layer costs: latencies and energies add up over the
    layers (run one after another); EDP is the product of the two sums."""

    def total(field: str) -> np.ndarray:
        return sum(c * getattr(m.cost, field) for m, c in zip(per_layer, counts, strict=True))

    objective = Objective.parse(objective)
    if objective is Objective.LATENCY:
        score = total("cycles")
    elif objective is Objective.ENERGY:
        score = total("energy_pj")
    else:
        score = total("energy_pj") * total("seconds")
    found = np.logical_and.reduce([m.found for m in per_layer])
    return np.where(found, score, np.inf)


def network_best_mappings(
    distinct: DistinctLayers, hw: HardwareBatch, objective: Objective | str = Objective.EDP,
    tech: TechTable = DEFAULT_TECH, options: MappingOptions = DEFAULT_MAPPING_OPTIONS,
) -> NetworkMappings:  # fmt: skip
    """Each layer mapped at its best (per ``objective``) on every point of ``hw``."""
    per_layer = tuple(best_mappings(layer, hw, objective, tech, options)
                      for layer in distinct.layers)  # fmt: skip
    score = network_score(per_layer, distinct.counts, objective)
    return NetworkMappings(hw, per_layer, score, np.isfinite(score))


def network_cost(
    distinct: DistinctLayers, found: NetworkMappings, i: int, objective: Objective | str
) -> NetworkCost:
    """The :class:`NetworkCost` of hardware point ``i`` of ``found``.

    Raises :class:`NoValidMapping` naming the first layer no mapping fits.
    """
    hw = found.hardware.config(i)
    by_position: dict[int, LayerResult] = {}
    for layer, members, best in zip(distinct.layers, distinct.members, found.per_layer,
                                    strict=True):  # fmt: skip
        if not best.found[i]:
            raise NoValidMapping(
                f"layer {layer.name!r}: no mapping fits l1_bytes={hw.l1_bytes}, l2_kib={hw.l2_kib}"
            )
        mapping, cost = best.mappings.mapping(i).to_dict(), best.cost.row(i)
        for j in members:
            net = distinct.network
            by_position[j] = LayerResult(net.layers[j], mapping, cost, net.repeat(j))
    results = [by_position[j] for j in range(len(distinct.network.layers))]
    return summarise(distinct.network.name, hw, Objective.parse(objective), results)


def summarise(
    name: str, hw: HardwareConfig, objective: Objective, results: Sequence[LayerResult]
) -> NetworkCost:
    """Totals of per-layer results: sums, EDP of the sums, the level bounding most cycles."""
    total = {k: sum(r.repeat * r.cost[k] for r in results) for k in SUMMED}
    total["edp"] = total["energy_pj"] * total["seconds"]
    total["utilization"] = total["macs"] / (total["cycles"] * hw.num_pes)
    first = results[0].cost
    total["area_mm2"], total["power_mw"] = first["area_mm2"], first["power_mw"]
    bounds = [r.cost["bound"] for r in results]
    total["bound"] = max(set(bounds), key=lambda b: sum(
        r.repeat * r.cost["cycles"] for r in results if r.cost["bound"] == b))  # fmt: skip
    return NetworkCost(name, hw, objective, tuple(results), total)


def evaluate_network(
    network: Network | Layer,
    hw: HardwareConfig,
    objective: Objective | str = Objective.EDP,
    tech: TechTable = DEFAULT_TECH,
    options: MappingOptions = DEFAULT_MAPPING_OPTIONS,
) -> NetworkCost:
    """Map every layer at its best (per ``objective``) and total the costs; repeated layer
    shapes are mapped once.

    Raises :class:`NoValidMapping` naming the first layer no mapping fits.
    """
    distinct = distinct_layers(network)
    found = network_best_mappings(distinct, HardwareBatch.from_configs(hw), objective, tech,
                                  options)  # fmt: skip
    return network_cost(distinct, found, 0, objective)
