"""Model vs published reference figures (SCALE-Sim, Eyeriss chip, MAESTRO, Timeloop).

The reference CSVs ship in ``airchitect/cost/reference`` (copies of the project's shared
reference set). ``python -m airchitect.cost.validation`` prints the table in docs/validation.md.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from airchitect.cost.batch import LayerBatch, Mapping, MappingBatch
from airchitect.cost.mapper import Objective, best_mapping
from airchitect.cost.model import evaluate
from airchitect.space.hardware import HardwareBatch, HardwareConfig
from airchitect.workloads.layer import Layer, conv2d

#: Eyeriss chip (JSSC'17): 12x14 PEs, 512 B scratchpads, 108 KiB buffer, 200 MHz. NoC 14 words
#: per cycle as in MAESTRO's validation run; the 64-bit DRAM link at 8 bytes per cycle.
EYERISS_LIKE = HardwareConfig(12, 14, 512, 108, 14, 8, "rs")
#: Eyeriss ISCA'16 energy study: 256 PEs, 128 KiB buffer, 512 B RF.
EYERISS_ISCA16 = HardwareConfig(16, 16, 512, 128, 16, 8, "rs")
#: SCALE-Sim's scale.cfg: 32x32 weight-stationary, one 1-byte weight per PE (a 4-byte L1 holds
#: the weight, an input and a psum). SCALE-Sim reports compute cycles without stalls and streams
#: the ifmap through double-buffered SRAM; here the L2 holds a layer whole so no tiling adds
#: array reloads, and bandwidths are high enough that compute bounds latency.
SCALESIM_WS32 = HardwareConfig(32, 32, 4, 4096, 1024, 1024, "ws")
#: Timeloop's eyeriss_like exercise: 14x12 PEs, per-PE scratchpads, a shared buffer.
TIMELOOP_EYERISS_LIKE = HardwareConfig(12, 14, 512, 128, 64, 64, "rs")


@dataclass(frozen=True)
class Check:
    source: str
    layer: str
    metric: str
    reference: float
    model: float
    tolerance_pct: float  # 0 means exact

    @property
    def error_pct(self) -> float:
        return 100.0 * (self.model / self.reference - 1.0)

    @property
    def ok(self) -> bool:
        if self.tolerance_pct == 0:
            return self.model == self.reference
        return abs(self.error_pct) <= self.tolerance_pct


def read_reference(name: str, directory: Path | None = None) -> list[dict[str, str]]:
    """Rows of a reference CSV, skipping its ``#`` provenance lines."""
    if directory is None:
        text = resources.files("airchitect.cost").joinpath("reference", name).read_text()
    else:
        text = (Path(directory) / name).read_text()
    return list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))


def alexnet_eyeriss(batch: int) -> list[Layer]:
    """AlexNet conv1-5 as Eyeriss ran them: 227 input, two-group conv2/4/5, 16-bit."""
    specs = [  # name, C, K, input, kernel, stride, padding, groups
        ("conv1", 3, 96, 227, 11, 4, 0, 1), ("conv2", 96, 256, 27, 5, 1, 2, 2),
        ("conv3", 256, 384, 13, 3, 1, 1, 1), ("conv4", 384, 384, 13, 3, 1, 1, 2),
        ("conv5", 384, 256, 13, 3, 1, 1, 2),
    ]  # fmt: skip
    return [
        conv2d(
            name,
            in_channels=c,
            out_channels=k,
            in_hw=hw,
            kernel=r,
            stride=s,
            padding=pad,
            groups=g,
            batch=batch,
        )  # fmt: skip
        for name, c, k, hw, r, s, pad, g in specs
    ]


def _best(layer: Layer, hw: HardwareConfig, objective: str) -> dict:
    result = best_mapping(layer, hw, objective)
    if result.cost is None:
        raise RuntimeError(f"no valid mapping for {layer.name} on {hw}")
    return result.cost


def scalesim_checks(directory: Path | None = None) -> list[Check]:
    checks = []
    for row in read_reference("scalesim_alexnet_ws32.csv", directory):
        stride, kernel = int(row["stride"]), int(row["filter_h"])
        out = math.ceil((int(row["ifmap_h"]) - kernel + stride) / stride)  # SCALE-Sim's rule
        layer = Layer(row["layer"], n=1, k=int(row["num_filters"]), c=int(row["channels"]),
                      p=out, q=out, r=kernel, s=int(row["filter_w"]), stride=stride,
                      precision_bytes=1)  # fmt: skip
        cost = _best(layer, SCALESIM_WS32, Objective.LATENCY)
        ref = float(row["compute_cycles"])
        checks.append(Check("SCALE-Sim ws 32x32", layer.name, "compute cycles", ref,
                            float(cost["compute_cycles"]), 0))  # fmt: skip
    return checks


def eyeriss_chip_checks(directory: Path | None = None) -> list[Check]:
    rows = {r["layer"]: r for r in read_reference("eyeriss_alexnet_chip.csv", directory)}
    checks = []
    for layer in alexnet_eyeriss(batch=4):
        row = rows[layer.name]
        cost = _best(layer, EYERISS_LIKE, Objective.LATENCY)
        checks += [
            Check("Eyeriss chip", layer.name, "latency ms", float(row["latency_ms"]),
                  cost["seconds"] * 1e3, 15),
            Check("Eyeriss chip", layer.name, "million MACs", float(row["million_macs"]),
                  layer.macs / 1e6, 0.1),
        ]  # fmt: skip
    return checks


def maestro_checks(directory: Path | None = None) -> list[Check]:
    rows = {r["layer"]: r for r in read_reference("maestro_eyeriss_alexnet.csv", directory)}
    checks = []
    for layer in alexnet_eyeriss(batch=4):
        cost = _best(layer, EYERISS_LIKE, Objective.LATENCY)
        ref = float(rows[layer.name]["cycles"])
        checks.append(Check("MAESTRO (Eyeriss RS)", layer.name, "cycles", ref, cost["cycles"], 15))
    return checks


def isca_energy_checks(directory: Path | None = None) -> list[Check]:
    """ISCA'16 Fig. 10 in units of 1e9 MAC energies (ratios MAC:RF:DRAM = 1:1:200)."""
    rows = {r["layer"]: r for r in read_reference("eyeriss_isca16_energy.csv", directory)}
    checks = []
    for layer in alexnet_eyeriss(batch=16):
        row = rows[layer.name]
        cost = _best(layer, EYERISS_ISCA16, Objective.ENERGY)
        mac_units = cost["energy_mac_pj"] / 1e9 / (cost["energy_mac_pj"] / layer.macs)
        rf_units = 4.0 * layer.macs / 1e9  # one RF access costs one MAC energy
        dram_units = 200.0 * cost["dram_bytes"] / layer.precision_bytes / 1e9
        checks += [
            Check("Eyeriss ISCA'16 energy", layer.name, "MAC (1e9 MAC units)", float(row["mac"]),
                  round(mac_units, 2), 0.5),
            Check("Eyeriss ISCA'16 energy", layer.name, "RF (1e9 MAC units)", float(row["rf"]),
                  rf_units, 30),
            Check("Eyeriss ISCA'16 energy", layer.name, "DRAM (1e9 MAC units)", float(row["dram"]),
                  dram_units, 30),
        ]  # fmt: skip
    return checks


#: The reference's own mapping: 16 DRAM-level passes over P (tiles of 7 rows), 3 filter rows
#: x 3 channels on 9 PE rows, 14 of 112 output columns per PE column: 126 PEs busy.
TIMELOOP_LAYER = Layer("eyeriss_like_default", n=1, k=32, c=3, p=112, q=112, r=3, s=3, stride=2)
TIMELOOP_MAPPING = Mapping(n_l2=1, p_l2=7, k_l2=32, c_l2=3, pe_reuse=1, dram_order=0)


def timeloop_checks() -> list[Check]:
    cost = evaluate(
        LayerBatch.from_layers(TIMELOOP_LAYER),
        HardwareBatch.from_configs(TIMELOOP_EYERISS_LIKE),
        MappingBatch.from_mappings(TIMELOOP_MAPPING),
    ).row(0)
    from airchitect.cost.model import dram_traffic_words, l2_tiles

    t = l2_tiles(
        LayerBatch.from_layers(TIMELOOP_LAYER), MappingBatch.from_mappings(TIMELOOP_MAPPING)
    )
    dram = {k: float(v[0]) for k, v in dram_traffic_words(t, TIMELOOP_MAPPING.dram_order).items()}
    src = "Timeloop eyeriss_like"
    return [
        Check(src, "default", "MACs", 10_838_016, cost["macs"], 0),
        Check(src, "default", "cycles", 86_016, cost["compute_cycles"], 0),
        Check(src, "default", "PEs busy", 126, cost["pes_used"], 0),
        Check(src, "default", "DRAM weight reads", 13_824, dram["w"], 10),
        Check(src, "default", "DRAM input reads", 157_296, dram["i"], 10),
        Check(src, "default", "DRAM output writes", 401_408, dram["o_write"], 10),
    ]


def all_checks(directory: Path | None = None) -> list[Check]:
    return (
        scalesim_checks(directory)
        + eyeriss_chip_checks(directory)
        + maestro_checks(directory)
        + timeloop_checks()
        + isca_energy_checks(directory)
    )


def markdown_table(checks: list[Check]) -> str:
    lines = [
        "| source | layer | metric | reference | model | error % | tolerance | ok |",
        "| --- | --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for c in checks:
        tol = "exact" if c.tolerance_pct == 0 else f"±{c.tolerance_pct:g}%"
        lines.append(
            f"| {c.source} | {c.layer} | {c.metric} | {c.reference:,.6g} | {c.model:,.6g} | "
            f"{c.error_pct:+.1f} | {tol} | {'yes' if c.ok else 'NO'} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table(all_checks()))
