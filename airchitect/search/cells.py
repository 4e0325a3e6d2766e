"""The exact per-layer sweep in cell form: best latency and energy of one layer on every point
of chosen PE arrays, with no mapper call per point.

A grid point is an *array* (PE rows, PE columns, dataflow), an L1 size, an L2 size and a
(NoC, DRAM) bandwidth *channel*. The cost model separates along those axes:

- compute cycles, NoC words and L1 demand depend on the array and the mapping only; DRAM
  words and L2 demand on the mapping only. They are computed once per (array, mapping), the
  array axis broadcast against the mapping axis, never copied per row.
- buffer sizes only decide which mappings are valid, and validity is monotone: a mapping valid
  at L1 level i and L2 level j is valid at every larger level. So the best value per buffer
  pair is a 2-D prefix minimum over (smallest L1 level, smallest L2 level) cells.
- bandwidths and buffer energies enter only the final combination, evaluated per channel:
  one channel per (NoC, DRAM) bandwidth pair for latency, one per L2 size for energy.

A :class:`CellSweep` holds those prefix minima, shape ``(channel, array, l1, l2)``, and reads
them out per point; a network's cost at every point is its layers' per-point values weighted by
their runs. :class:`SweepCache` keeps a layer shape's sweep of an array for the next question.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from airchitect.cost.batch import LayerBatch, MappingBatch
from airchitect.cost.mapper import MappingOptions, best_dram_order, mapping_candidates
from airchitect.cost.model import access_counts, dram_traffic_words, l2_tiles
from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.space.hardware import HARDWARE_KNOBS, HardwareBatch
from airchitect.space.space import DesignSpace
from airchitect.workloads.layer import Layer

KNOB = {name: i for i, name in enumerate(HARDWARE_KNOBS)}
_ARRAY_KNOBS = ("pe_rows", "pe_cols", "dataflow")
_BUFFER_KNOBS = ("l1_bytes", "l2_kib")
_CHANNEL_KNOBS = ("noc_words_per_cycle", "dram_bytes_per_cycle")


@dataclass(frozen=True)
class GridAxes:
    """The space's knob values split into the sweep's axes, with each point's coordinates.

    ``array_of``, ``l1_of``, ``l2_of`` and ``channel_of`` give, for every flat grid index, its
    array (rows-major, then columns, then dataflow), L1 level, L2 level and channel
    (NoC-major, then DRAM)."""

    values: dict[str, np.ndarray]
    array_of: np.ndarray
    l1_of: np.ndarray
    l2_of: np.ndarray
    channel_of: np.ndarray

    @property
    def n_arrays(self) -> int:
        return int(np.prod([len(self.values[k]) for k in _ARRAY_KNOBS]))

    @property
    def n_channels(self) -> int:
        return int(np.prod([len(self.values[k]) for k in _CHANNEL_KNOBS]))

    def arrays(self) -> HardwareBatch:
        """Every array of the space; buffer and bandwidth fields are placeholders (unused)."""
        rows, cols, flows = (self.values[k] for k in _ARRAY_KNOBS)
        r, c, f = (a.reshape(-1) for a in np.meshgrid(rows, cols, flows, indexing="ij"))
        one = np.ones(len(r))
        return HardwareBatch(r.astype(np.int64), c.astype(np.int64), one, one, one, one,
                             f.astype(np.int64))  # fmt: skip

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """The grid in sweep order: ``(arrays, l1 sizes, l2 sizes, channels)``."""
        n1, n2 = (len(self.values[k]) for k in _BUFFER_KNOBS)
        return self.n_arrays, n1, n2, self.n_channels

    def points_of(self, arrays: np.ndarray) -> np.ndarray:
        """Flat grid indices of every point of ``arrays``, in ``(array, l1, l2, noc, dram)``
        order: the order :meth:`CellSweep.read_out` returns values in."""
        arrays = np.asarray(arrays, dtype=np.int64)
        n_cols, n_flows = (len(self.values[k]) for k in ("pe_cols", "dataflow"))
        rows, rest = np.divmod(arrays, n_cols * n_flows)
        cols, flows = np.divmod(rest, n_flows)
        sizes = [len(self.values[k]) for k in HARDWARE_KNOBS]
        grids = np.meshgrid(np.arange(len(arrays)), *(np.arange(sizes[KNOB[k]])
                            for k in (*_BUFFER_KNOBS, *_CHANNEL_KNOBS)), indexing="ij")  # fmt: skip
        a, l1, l2, noc, dram = (g.reshape(-1) for g in grids)
        coords = (rows[a], cols[a], l1, l2, noc, dram, flows[a])
        return np.ravel_multi_index(coords, sizes).astype(np.int64)


_AXES: dict[str, GridAxes] = {}


def _axes(space: DesignSpace) -> GridAxes:
    values = {k: np.asarray(space.knobs[KNOB[k]].values) for k in HARDWARE_KNOBS}
    values = {k: v.astype(np.int64) if k == "dataflow" else v.astype(np.float64)
              for k, v in values.items()}  # fmt: skip
    idx = space.unflat_index(np.arange(space.size))
    n_cols, n_flows = (len(values[k]) for k in ("pe_cols", "dataflow"))
    array_of = (idx[:, KNOB["pe_rows"]] * n_cols + idx[:, KNOB["pe_cols"]]) * n_flows + idx[
        :, KNOB["dataflow"]
    ]
    n_dram = len(values["dram_bytes_per_cycle"])
    channel_of = idx[:, KNOB["noc_words_per_cycle"]] * n_dram + idx[:, KNOB["dram_bytes_per_cycle"]]
    out = GridAxes(values, array_of, idx[:, KNOB["l1_bytes"]], idx[:, KNOB["l2_kib"]], channel_of)
    for a in (out.array_of, out.l1_of, out.l2_of, out.channel_of):
        a.setflags(write=False)
    return out


def grid_axes(space: DesignSpace) -> GridAxes:
    """The (cached) :class:`GridAxes` of ``space``."""
    key = space.hash
    if key not in _AXES:
        if len(_AXES) >= 8:
            _AXES.clear()
        _AXES[key] = _axes(space)
    return _AXES[key]


@dataclass(frozen=True)
class CellSweep:
    """Best values per cell of ``arrays``; ``inf`` where no mapping fits.

    ``latency_cycles``: ``(channels, arrays, l1, l2)``. ``energy_pj``: ``(l2 sizes, arrays, l1,
    l2)``, the NoC, L2 and DRAM energy of the least-energy mapping at each L2 size's per-access
    energy; the point's energy adds ``fixed_energy_pj[l1]`` (MAC and L1 energy, the same for
    every mapping)."""

    arrays: np.ndarray
    latency_cycles: np.ndarray
    energy_pj: np.ndarray | None
    fixed_energy_pj: np.ndarray

    def per_point(self) -> tuple[np.ndarray, np.ndarray]:
        """Latency (cycles), shape ``(arrays, l1, l2, channels)``, and energy (pJ), shape
        ``(arrays, l1, l2)`` (no bandwidth changes it), of every point of the arrays; ``inf``
        where no mapping fits."""
        lat = self.latency_cycles.transpose(1, 2, 3, 0)  # (a, l1, l2, channel)
        if self.energy_pj is None:
            return lat, None
        n_l2 = self.energy_pj.shape[0]
        diag = self.energy_pj[np.arange(n_l2), :, :, np.arange(n_l2)]  # (l2, a, l1)
        energy = diag.transpose(1, 2, 0) + self.fixed_energy_pj[None, :, None]  # (a, l1, l2)
        return lat, np.where(np.isfinite(lat).any(axis=-1), energy, np.inf)

    def read_out(self) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`per_point` flattened, in :meth:`GridAxes.points_of` order."""
        lat, energy = self.per_point()
        energy = np.where(np.isfinite(lat), energy[..., None], np.inf)
        return lat.reshape(-1), energy.reshape(-1)


def _array_mapping_parts(layer: Layer, arrays: HardwareBatch, options: MappingOptions) -> dict:
    """Access counts of every (array, mapping) pair, shape ``(arrays, mappings)``; the
    per-mapping DRAM words and L2 demand, shape ``(mappings,)``."""
    lay = LayerBatch.from_layers(layer)
    cand = mapping_candidates(layer, options)
    cand = MappingBatch(cand.n_l2, cand.p_l2, cand.k_l2, cand.c_l2, cand.pe_reuse,
                        best_dram_order(lay, cand))  # fmt: skip
    tiles = l2_tiles(lay, cand)
    n_a, n_m = len(arrays), len(cand)
    parts = {k: np.empty((n_a, n_m)) for k in ("compute", "noc", "exposed", "l1_bytes")}
    for flow in np.unique(arrays.dataflow):  # one dataflow per call: no per-row dispatch
        sel = np.flatnonzero(arrays.dataflow == flow)
        hw = HardwareBatch(*(getattr(arrays, k)[sel][:, None] for k in HARDWARE_KNOBS))
        counts = access_counts(lay, hw, cand, tiles)
        sched = counts["schedule"]
        parts["compute"][sel] = counts["compute_cycles"]
        parts["noc"][sel] = counts["noc_words"]
        parts["exposed"][sel] = sched["exposed_noc"]
        parts["l1_bytes"][sel] = sched["l1_words"] * layer.precision_bytes
    dram = dram_traffic_words(tiles, cand.dram_order)
    dram_words = lay.groups * (dram["w"] + dram["i"] + dram["o_write"] + dram["o_read"])
    l2_words = tiles["w_words"] + tiles["i_words"] + tiles["o_words"]
    return parts | {"dram": dram_words.astype(np.float64),
                    "l2_bytes": l2_words * layer.precision_bytes}  # fmt: skip


def _undominated(starts: np.ndarray, *metrics: np.ndarray) -> np.ndarray:
    """Rows (sorted by cell, cells starting at ``starts``) that no cell champion dominates.

    Latency and energy grow with each metric (compute cycles, NoC words, DRAM words; the
    exposed NoC share is fixed per array), so a row that another row of its cell matches or
    beats on every metric is never any channel's minimum. The champions checked are each
    metric's least row per cell: about nine rows in ten go, for a few linear passes."""
    n = len(metrics[0])
    if n == 0:
        return np.ones(0, dtype=bool)
    seg = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
    keep = np.ones(n, dtype=bool)
    for m in metrics:
        best = np.flatnonzero(m == np.minimum.reduceat(m, starts)[seg])
        first = best[np.r_[True, seg[best[1:]] != seg[best[:-1]]]]  # one champion per cell
        champ = first[seg]
        beaten = np.logical_and.reduce([x >= x[champ] for x in metrics])
        keep &= ~beaten | (np.arange(n) == champ)
    return keep


def _prefix_min(channels, starts: np.ndarray, cells: np.ndarray, shape) -> np.ndarray:
    """Min per (array, l1 level, l2 level) cell of each channel's values (rows sorted by cell),
    then the running min over smaller buffer levels: the best mapping valid at each buffer
    pair. ``channels`` yields one row vector at a time, so no (channels x rows) temporary is
    ever built. Returns ``(channels, arrays, l1 levels, l2 levels)``."""
    mins = [np.minimum.reduceat(values, starts) for values in channels]
    grid = np.full((len(mins), int(np.prod(shape))), np.inf)
    if len(starts):
        grid[:, cells] = np.stack(mins)
    grid = grid.reshape(len(mins), *shape)
    return np.minimum.accumulate(np.minimum.accumulate(grid, axis=2), axis=3)


def sweep_cells(
    layer: Layer, space: DesignSpace, arrays: np.ndarray | None = None,
    tech: TechTable = DEFAULT_TECH, options: MappingOptions | None = None,
    outputs: str = "both",
) -> CellSweep:  # fmt: skip
    """Exact best latency and energy of one run of ``layer`` on every point of ``arrays``
    (indices into :meth:`GridAxes.arrays`; all of them by default), over the mapping space
    ``options`` (the space's own by default).

    ``outputs="energy"`` skips the latency channels (``latency_cycles`` is then one channel,
    0 where a mapping fits and ``inf`` elsewhere); ``outputs="latency"`` skips the energy
    (``energy_pj`` is ``None``). Each roughly halves the work."""
    if outputs not in ("both", "latency", "energy"):
        raise ValueError(f"outputs must be 'both', 'latency' or 'energy', got {outputs!r}")
    axes = grid_axes(space)
    arrays = np.arange(axes.n_arrays) if arrays is None else np.asarray(arrays, dtype=np.int64)
    v = axes.values
    x = _array_mapping_parts(layer, axes.arrays().take(arrays), options or space.mapping_options)
    n_a, n_m = x["compute"].shape
    l1_level = np.searchsorted(v["l1_bytes"], x["l1_bytes"], side="left")  # (A, M)
    l2_level = np.searchsorted(v["l2_kib"] * 1024, x["l2_bytes"], side="left")  # (M,)
    n1, n2 = len(v["l1_bytes"]), len(v["l2_kib"])
    cell = (np.arange(n_a)[:, None] * n1 + l1_level) * n2 + l2_level[None, :]
    cell[(l1_level >= n1) | (l2_level >= n2)[None, :]] = -1  # fits no buffer of the space
    cell = cell.reshape(-1)
    order = np.argsort(cell, kind="stable")
    order = order[cell[order] >= 0]
    cell = cell[order]
    c, noc, exposed = (x[k].reshape(-1)[order] for k in ("compute", "noc", "exposed"))
    dram = x["dram"][order % n_m]
    starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]]) if len(cell) else cell
    keep = (
        _undominated(starts, noc, dram)
        if outputs == "energy"
        else _undominated(starts, c, noc, dram)
    )
    cell, c, noc, exposed, dram = (a[keep] for a in (cell, c, noc, exposed, dram))
    starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]]) if len(cell) else cell
    args = (starts, cell[starts], (n_a, n1, n2))
    pb = layer.precision_bytes

    def latencies():  # one channel per (NoC, DRAM) bandwidth pair, NoC-major
        dram_cycles = [dram * (pb / bw) for bw in v["dram_bytes_per_cycle"]]
        for noc_bw in v["noc_words_per_cycle"]:
            noc_cycles = noc / noc_bw
            busy = np.maximum(noc_cycles * exposed + c, noc_cycles)
            for d in dram_cycles:
                yield np.maximum(busy, d)

    scale = pb / 2.0
    fixed = noc * (tech.noc_pj * scale) + dram * (tech.dram_pj * scale)
    traffic = (noc + dram) * scale
    energies = (fixed + traffic * l2_pj for l2_pj in tech.l2_pj(v["l2_kib"]))  # per L2 size
    fixed_energy = (
        layer.macs * scale * (tech.mac_pj + tech.l1_accesses_per_mac * tech.l1_pj(v["l1_bytes"]))
    )
    if outputs == "energy":  # feasibility only: 0 where some mapping fits
        latency = _prefix_min(iter([np.zeros(len(c))]), *args)
    else:
        latency = _prefix_min(latencies(), *args)
    energy = None if outputs == "latency" else _prefix_min(energies, *args)
    return CellSweep(arrays, latency, energy, np.asarray(fixed_energy, dtype=np.float64))


def _shape_key(layer: Layer) -> tuple:
    """What decides a layer's sweep (its name does not)."""
    return (layer.n, layer.k, layer.c, layer.p, layer.q, layer.r, layer.s, layer.stride,
            layer.dilation, layer.groups, layer.precision_bytes, layer.op)  # fmt: skip


class SweepCache:
    """Per-(layer shape, PE array) cell sweeps kept across queries: what one layer costs at
    every point of one array does not depend on the network around it, the budget or the
    objective, so many networks of one family under several budgets (a co-search) sweep each
    (shape, array) once. Bounded: past ``max_entries`` it starts again."""

    def __init__(self, max_entries: int = 40_000) -> None:
        self.max_entries = max_entries
        self._entries: dict[tuple, tuple[np.ndarray, np.ndarray | None]] = {}
        self.sweeps = 0  # layer sweeps run
        self.hits = 0  # (shape, array) values read from the cache

    def per_point(
        self, layer: Layer, space: DesignSpace, arrays: np.ndarray, tech: TechTable,
        options: MappingOptions | None, outputs: str,
    ) -> tuple[np.ndarray, np.ndarray | None]:  # fmt: skip
        """:meth:`CellSweep.per_point` of :func:`sweep_cells`, from the cache where it can."""
        base = (_shape_key(layer), space.hash, tech, options, outputs)
        arrays = [int(a) for a in arrays]
        missing = [a for a in arrays if (base, a) not in self._entries]
        if missing and len(self._entries) + len(missing) > self.max_entries:
            self._entries.clear()
            missing = arrays
        self.hits += len(arrays) - len(missing)
        if missing:
            lat, en = sweep_cells(layer, space, np.array(missing, dtype=np.int64), tech, options,
                                  outputs).per_point()  # fmt: skip
            self.sweeps += 1
            for j, a in enumerate(missing):
                self._entries[(base, a)] = (lat[j], None if en is None else en[j])
        values = [self._entries[(base, a)] for a in arrays]
        energy = None if values[0][1] is None else np.stack([v[1] for v in values])
        return np.stack([v[0] for v in values]), energy


def layer_per_point(
    layer: Layer, space: DesignSpace, arrays: np.ndarray, tech: TechTable = DEFAULT_TECH,
    options: MappingOptions | None = None, outputs: str = "both",
    cache: SweepCache | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:  # fmt: skip
    """One layer's per-point latency and energy on ``arrays`` (:meth:`CellSweep.per_point`),
    through ``cache`` when given."""
    if cache is not None:
        return cache.per_point(layer, space, arrays, tech, options, outputs)
    return sweep_cells(layer, space, arrays, tech, options, outputs).per_point()
