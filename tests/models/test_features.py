from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from airchitect.models.features import (
    INPUT_COLUMNS,
    RESERVED,
    TOKENS,
    FeatureStats,
    denormalise_cost,
    encode_features,
    fit_cost_stats,
    fit_feature_stats,
    normalise_cost,
)


@pytest.fixture(scope="module")
def frame(dataset_frame: pd.DataFrame) -> pd.DataFrame:
    return dataset_frame[dataset_frame["found"]].reset_index(drop=True)


@pytest.fixture(scope="module")
def stats(frame: pd.DataFrame) -> FeatureStats:
    return fit_feature_stats(frame)


def _local(ids: np.ndarray, stats: FeatureStats, name: str) -> np.ndarray:
    return ids[:, TOKENS.index(name)] - stats.offset(name)


def test_every_position_has_its_own_id_range(frame: pd.DataFrame, stats: FeatureStats) -> None:
    ids, values = encode_features(frame, stats)
    assert ids.shape == values.shape == (len(frame), stats.n_tokens)
    assert ids.dtype == np.int64 and values.dtype == np.float32
    for t, name in enumerate(TOKENS):
        lo = stats.offset(name)
        assert ((ids[:, t] >= lo) & (ids[:, t] < lo + stats.size(name))).all(), name
    assert ids.max() < stats.vocab_size
    assert np.isfinite(values).all()
    # dims of a real dataset are never missing; the bucket ids are spread out
    assert (_local(ids, stats, "macs") != RESERVED).all()
    assert len(np.unique(_local(ids, stats, "macs"))) > 8


def test_null_budgets_become_the_unconstrained_token(
    frame: pd.DataFrame, stats: FeatureStats
) -> None:
    ids, values = encode_features(frame, stats)
    for name in ("area_budget_mm2", "power_budget_mw"):
        null = frame[name].isna().to_numpy()
        assert null.any() and (~null).any()
        local = _local(ids, stats, name)
        assert (local[null] == RESERVED).all()
        assert (local[~null] != RESERVED).all()
        assert (values[null, TOKENS.index(name)] == 0).all()


def test_unknown_categories_and_bad_numbers_do_not_crash(
    frame: pd.DataFrame, stats: FeatureStats
) -> None:
    odd = frame.head(3).copy()
    odd["op"] = ["conv3d", None, "conv"]
    odd["objective"] = ["throughput", "latency", None]
    odd["k"] = [0, -5, 1e30]  # non-positive -> missing; huge -> clipped value, top bucket
    ids, values = encode_features(odd, stats)
    assert _local(ids, stats, "op").tolist()[:2] == [RESERVED, RESERVED]
    assert _local(ids, stats, "op")[2] != RESERVED
    latency = 1 + stats.categorical["objective"].index("latency")
    assert _local(ids, stats, "objective").tolist() == [RESERVED, latency, RESERVED]
    assert _local(ids, stats, "k")[:2].tolist() == [RESERVED, RESERVED]
    assert _local(ids, stats, "k")[2] == stats.size("k") - 1
    assert np.isfinite(values).all() and np.abs(values).max() <= 8.0


def test_missing_column_is_named(frame: pd.DataFrame, stats: FeatureStats) -> None:
    with pytest.raises(KeyError, match="macs"):
        encode_features(frame.drop(columns=["macs"]), stats)


def test_stats_round_trip_through_json(frame: pd.DataFrame, stats: FeatureStats) -> None:
    again = FeatureStats.from_dict(json.loads(json.dumps(stats.to_dict())))
    assert again.vocab_size == stats.vocab_size
    for a, b in zip(encode_features(frame, stats), encode_features(frame, again), strict=True):
        assert np.array_equal(a, b)


def test_stats_of_a_foreign_version_are_refused(stats: FeatureStats) -> None:
    data = stats.to_dict() | {"version": 99}
    with pytest.raises(ValueError, match="version"):
        FeatureStats.from_dict(data)


def test_only_input_columns_are_needed(frame: pd.DataFrame, stats: FeatureStats) -> None:
    ids, _ = encode_features(frame[list(INPUT_COLUMNS)], stats)
    assert ids.shape[0] == len(frame)


def test_cost_normalisation_round_trips(frame: pd.DataFrame) -> None:
    cost_stats = fit_cost_stats(frame)
    z = normalise_cost(frame, cost_stats)
    assert set(cost_stats["objective"]) == {"latency", "energy", "edp"}
    for objective in ("latency", "energy", "edp"):
        rows = (frame["objective"] == objective).to_numpy()
        assert abs(z[rows].mean()) < 1e-3 and abs(z[rows].std() - 1) < 1e-3
    back = denormalise_cost(z, frame["objective"].to_numpy(), cost_stats)
    assert np.allclose(back, frame["score"].to_numpy(), rtol=1e-4)


def test_plain_columns_encode_exactly_like_a_dataframe(
    frame: pd.DataFrame, stats: FeatureStats
) -> None:
    columns = {name: frame[name].to_numpy() for name in INPUT_COLUMNS}
    columns["area_budget_mm2"] = columns["area_budget_mm2"].astype(object)  # None-style nulls
    columns["area_budget_mm2"][::2] = None
    expected = frame.copy()
    expected.loc[::2, "area_budget_mm2"] = np.nan
    ids, values = encode_features(columns, stats)
    want_ids, want_values = encode_features(expected, stats)
    assert np.array_equal(ids, want_ids) and np.array_equal(values, want_values)


# ---- budget capacity -----------------------------------------------------------------------------
def _brute_force_max_pes(space, area: float, power: float) -> float:
    from airchitect.space.budget import hardware_area_mm2, hardware_power_mw

    hw = space.enumerate()
    fits = (hardware_area_mm2(hw) <= area) & (hardware_power_mw(hw) <= power)
    pes = (hw.pe_rows * hw.pe_cols)[fits]
    return float(pes.max()) if pes.size else float("nan")


def test_budget_max_pes_is_the_largest_array_any_design_within_budget_has() -> None:
    from airchitect.models.features import budget_max_pes, capacity_table
    from airchitect.space.space import DesignSpace

    space = DesignSpace.named("reduced")
    capacity = capacity_table(space)
    rng = np.random.default_rng(0)
    area = np.exp(rng.uniform(np.log(0.1), np.log(200), 60))
    power = np.exp(rng.uniform(np.log(10), np.log(20000), 60))
    area[:10], power[10:20] = np.nan, np.nan  # one axis unconstrained
    got = budget_max_pes({"area_budget_mm2": area, "power_budget_mw": power}, capacity)
    for a, p, g in zip(area, power, got, strict=True):
        a, p = np.nan_to_num(a, nan=np.inf), np.nan_to_num(p, nan=np.inf)
        want = _brute_force_max_pes(space, a, p)
        assert (np.isnan(g) and np.isnan(want)) or g == want, (a, p)
    assert np.isnan(got).any() and (~np.isnan(got)).any()  # some budgets afford nothing


def test_capacity_stats_add_one_token_and_survive_a_round_trip(frame: pd.DataFrame) -> None:
    from airchitect.space.space import DesignSpace

    plain = fit_feature_stats(frame)
    with_capacity = fit_feature_stats(frame, space=DesignSpace.named("reduced"))
    assert with_capacity.tokens == (*plain.tokens, "budget_max_pes")
    again = FeatureStats.from_dict(json.loads(json.dumps(with_capacity.to_dict())))
    ids, values = encode_features(frame, with_capacity)
    ids2, values2 = encode_features(frame, again)
    assert np.array_equal(ids, ids2) and np.array_equal(values, values2)
    # the other tokens encode exactly as without the capacity token
    base_ids, _ = encode_features(frame, plain)
    assert np.array_equal(ids[:, : plain.n_tokens], base_ids)
    t = with_capacity.tokens.index("budget_max_pes")
    assert len(np.unique(values[:, t])) > 4  # it varies with the budget


# ---- divisibility tokens (opt-in) ----------------------------------------------------------------
def test_without_divisibility_stats_and_tokens_are_as_before(frame: pd.DataFrame, stats) -> None:
    """The default adds nothing: shipped bundles' stats load and encode exactly as before."""
    assert stats.divisibility == () and "divisibility" not in stats.to_dict()
    assert stats.tokens[: len(TOKENS)] == TOKENS and not stats.divisibility_tokens
    again = FeatureStats.from_dict(json.loads(json.dumps(stats.to_dict())))
    ids, values = encode_features(frame, stats)
    ids2, values2 = encode_features(frame, again)
    assert (ids == ids2).all() and (values == values2).all()


def test_divisibility_tokens_carry_exact_residues(frame: pd.DataFrame, stats) -> None:
    moduli = (12, 16)
    div = fit_feature_stats(frame, divisibility=moduli)
    assert div.tokens[: stats.n_tokens] == stats.tokens
    assert div.divisibility_tokens == tuple(f"{d}_mod_{m}" for d in "kcpq" for m in moduli)
    ids, values = encode_features(frame, div)
    base_ids, _ = encode_features(frame, stats)
    assert (ids[:, : stats.n_tokens] == base_ids).all()  # the old tokens are untouched
    for d in "kcpq":
        for m in moduli:
            t = div.tokens.index(f"{d}_mod_{m}")
            x = frame[d].to_numpy()
            assert (ids[:, t] - div.offset(f"{d}_mod_{m}") == x % m + 1).all()
            assert values[:, t] == pytest.approx(x / (m * np.ceil(x / m)))
    assert ids.max() < div.vocab_size
    again = FeatureStats.from_dict(json.loads(json.dumps(div.to_dict())))
    assert again.divisibility == moduli and (encode_features(frame, again)[0] == ids).all()
    bad = frame.head(2).assign(k=[np.nan, 2.5])
    ids, _ = encode_features(bad, div)
    assert (ids[:, div.tokens.index("k_mod_12")] == div.offset("k_mod_12") + RESERVED).all()
    with pytest.raises(ValueError, match="moduli"):
        fit_feature_stats(frame, divisibility=(1,))
