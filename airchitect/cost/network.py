"""Whole-network evaluation: one hardware design, the best mapping per layer, costs summed."""

from __future__ import annotations

from dataclasses import dataclass

from airchitect.cost.mapper import Objective, best_mapping
from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.space.hardware import HardwareConfig
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
    cost: dict


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
                {"layer": r.layer.to_dict(), "mapping": r.mapping, "cost": r.cost}
                for r in self.layers
            ],
        }


def evaluate_network(
    network: Network | Layer,
    hw: HardwareConfig,
    objective: Objective | str = Objective.EDP,
    tech: TechTable = DEFAULT_TECH,
) -> NetworkCost:
    """Map every layer at its best (per ``objective``) and total the costs.

    Raises :class:`NoValidMapping` naming the first layer no mapping fits.
    """
    if isinstance(network, Layer):
        network = Network(network.name, "layer", (network,))
    objective = Objective.parse(objective)
    results = []
    for layer in network.layers:
        found = best_mapping(layer, hw, objective, tech)
        if found.mapping is None:
            raise NoValidMapping(
                f"layer {layer.name!r}: no mapping fits l1_bytes={hw.l1_bytes}, "
                f"l2_kib={hw.l2_kib} ({found.candidates_scored} candidates scored)"
            )
        results.append(LayerResult(layer, found.mapping.to_dict(), found.cost))
    total = {k: sum(r.cost[k] for r in results) for k in SUMMED}
    total["edp"] = total["energy_pj"] * total["seconds"]
    total["utilization"] = total["macs"] / (total["cycles"] * hw.num_pes)
    first = results[0].cost
    total["area_mm2"], total["power_mw"] = first["area_mm2"], first["power_mw"]
    bounds = [r.cost["bound"] for r in results]
    total["bound"] = max(set(bounds), key=lambda b: sum(
        r.cost["cycles"] for r in results if r.cost["bound"] == b))  # fmt: skip
    return NetworkCost(network.name, hw, objective, tuple(results), total)
