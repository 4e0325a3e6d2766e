"""Constrained Bayesian optimisation over the hardware grid, with Optuna's ``GPSampler``.

Each ordinal knob is an integer parameter over its grid index (so the GP's distance means
"grid steps apart"), the dataflow a categorical one. The objective is the log of the score,
since scores span orders of magnitude. Two kinds of constraint (<= 0 is feasible) feed the
sampler's feasibility model, and neither costs an evaluation when it is violated:

* area/power margins ``log(value / limit)``, known from the hardware before any evaluation; an
  over-budget proposal is answered with a penalty objective and is never evaluated;
* a buffer constraint, +1 when the evaluated score is ``inf`` (no mapping fits) and -1 when it
  is finite, so the GP learns where the mapper fails; failures also get the penalty objective.

A proposal already answered (a cached point) is a free trial; the number of trials is capped so
that a sampler that keeps re-proposing cannot loop forever, and a run of free trials brings in a
fresh random feasible point to get it moving again.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import optuna
import torch

from airchitect.cost.tech import DEFAULT_TECH, TechTable
from airchitect.search.base import DEFAULT_TOP_K, HardwareEvaluator, Label, Task
from airchitect.search.random_search import FeasibleSampler, SearchLabeller
from airchitect.space.budget import Budget, hardware_area_mm2, hardware_power_mw
from airchitect.space.space import DesignSpace
from airchitect.workloads.layer import Layer

_CONSTRAINTS = "constraints"  # user attribute the constraints function reads
UNMEASURED = 0.0  # buffer-constraint value of a point never evaluated (over budget)


def _constraints(trial: optuna.trial.FrozenTrial) -> Sequence[float]:
    return trial.user_attrs[_CONSTRAINTS]


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Silence Optuna's per-trial logging and its experimental/deprecation warnings."""
    old = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # constraints_func is deprecated in Optuna 5 in favour of Trial.set_constraint,
            # which Optuna 4 lacks; the project supports both
            warnings.filterwarnings("ignore", message=".*constraints_func", category=FutureWarning)
            yield
    finally:
        optuna.logging.set_verbosity(old)


class _Problem:
    """The objective Optuna sees: grid point <-> parameters, budget margins, evaluation."""

    def __init__(
        self, space: DesignSpace, evaluator: HardwareEvaluator, budget: Budget, tech: TechTable
    ) -> None:
        self.space, self.evaluator, self.tech = space, evaluator, tech
        axes = ((hardware_area_mm2, budget.area_mm2), (hardware_power_mw, budget.power_mw))
        self.axes = [(fn, limit) for fn, limit in axes if limit is not None]
        self.worst: float | None = None  # worst finite log-score seen
        self.last = -1  # flat index of the latest trial

    def params(self, flat: int) -> dict[str, int]:
        """Optuna parameters of a grid point (every knob as its grid index)."""
        vector = self.space.unflat_index(int(flat))
        return {k.name: int(v) for k, v in zip(self.space.knobs, vector, strict=True)}

    def suggest(self, trial: optuna.Trial) -> int:
        """Ask the trial for a grid point; returns its flat index."""
        vector = [
            trial.suggest_categorical(k.name, list(range(k.cardinality)))
            if k.kind == "categorical"
            else trial.suggest_int(k.name, 0, k.cardinality - 1)
            for k in self.space.knobs
        ]
        return self.space.flat_index(np.array(vector, dtype=np.int64))

    @property
    def penalty(self) -> float:
        # worse than anything measured, but close enough not to flatten the GP's scale; before
        # the first finite score (startup points are feasible, so rarely) any constant will do
        return 0.0 if self.worst is None else self.worst + 1.0

    def __call__(self, trial: optuna.Trial) -> float:
        flat = self.last = self.suggest(trial)
        hw = self.space.decode_batch(self.space.unflat_index(np.array([flat])))
        margins = [math.log(float(fn(hw, self.tech)[0]) / limit) for fn, limit in self.axes]
        if any(m > 0 for m in margins):  # over budget: known without evaluating
            trial.set_user_attr(_CONSTRAINTS, [*margins, UNMEASURED])
            return self.penalty
        score = float(self.evaluator.scores([flat])[0])
        if not math.isfinite(score):  # a measured failure: no mapping fits the buffers
            trial.set_user_attr(_CONSTRAINTS, [*margins, 1.0])
            return self.penalty
        trial.set_user_attr(_CONSTRAINTS, [*margins, -1.0])
        value = math.log(max(score, 1e-300))
        self.worst = value if self.worst is None else max(self.worst, value)
        return value


class ConstrainedBO(SearchLabeller):
    """GP-based constrained BO (logEI x probability of feasibility) over the hardware grid."""

    name = "bo"

    def __init__(
        self,
        space: DesignSpace,
        top_k: int = DEFAULT_TOP_K,
        tech: TechTable = DEFAULT_TECH,
        n_startup: int = 10,
        trial_factor: int = 4,
        patience: int = 3,
    ) -> None:
        super().__init__(space, top_k, tech)
        if not 1 <= patience < trial_factor:
            raise ValueError(f"need 1 <= patience < trial_factor, got {patience}, {trial_factor}")
        self.n_startup, self.trial_factor, self.patience = n_startup, trial_factor, patience
        self.step_seconds: list[float] = []  # wall time of each trial of the last search

    def label(
        self, layer: Layer, tasks: Sequence[Task], budget_evals: int, seed: int = 0,
        warm_start: Sequence[int] = (),
    ) -> list[Label]:  # fmt: skip
        """One label per task; ``warm_start`` flat indices are tried first in every task."""
        return super().label(layer, tasks, budget_evals, seed, warm_start=tuple(warm_start))

    def search(
        self, evaluator: HardwareEvaluator, budget: Budget, budget_evals: int, seed: int,
        warm_start: Sequence[int] = (),
    ) -> None:  # fmt: skip
        torch.set_num_threads(1)  # GP fits are small; extra threads only contend for cores
        self.step_seconds = []
        if budget_evals <= 0:
            return
        problem = _Problem(self.space, evaluator, budget, self.tech)
        sampler = FeasibleSampler(self.space, budget, np.random.default_rng(seed), self.tech)
        with _quiet_optuna():
            first = self._first_points(sampler, warm_start, budget_evals)
            study = optuna.create_study(direction="minimize", sampler=self._sampler(seed, first))
            for flat in first:
                study.enqueue_trial(problem.params(flat))
            self._loop(study, problem, sampler, budget_evals)

    def _first_points(
        self, sampler: FeasibleSampler, warm_start: Sequence[int], budget_evals: int
    ) -> list[int]:
        """Warm-start points (deduplicated, in order), then random budget-feasible ones."""
        warm = list(dict.fromkeys(int(i) for i in warm_start))
        sampler.take(warm)
        n_random = max(1, min(self.n_startup, budget_evals // 4)) - len(warm)
        return warm + sampler.draw(max(0, n_random)).tolist()

    def _sampler(self, seed: int, first: Sequence[int]) -> optuna.samplers.GPSampler:
        # the GP takes over once the enqueued points are told, so no unconstrained random
        # startup trial (which could fall over budget) is ever drawn
        return optuna.samplers.GPSampler(
            seed=seed, constraints_func=_constraints, deterministic_objective=True,
            n_startup_trials=max(1, len(first)), warn_independent_sampling=False,
        )  # fmt: skip

    def _loop(
        self, study: optuna.Study, problem: _Problem, sampler: FeasibleSampler, budget_evals: int
    ) -> None:
        evaluator, n_feasible = problem.evaluator, sampler.n_feasible
        max_trials = self.trial_factor * budget_evals
        free_run = 0  # consecutive trials that spent no evaluation
        while evaluator.evals < budget_evals and len(study.trials) < max_trials:
            if n_feasible is not None and evaluator.evals >= n_feasible:
                break  # every budget-feasible point has been scored
            start, before = time.perf_counter(), evaluator.evals
            trial = study.ask()
            study.tell(trial, problem(trial))
            self.step_seconds.append(time.perf_counter() - start)
            sampler.take([problem.last])  # so a later random draw never repeats it
            free_run = 0 if evaluator.evals > before else free_run + 1
            # with patience < trial_factor at least one trial in trial_factor evaluates, so the
            # trial cap never stops a search before its evaluation budget is spent
            if free_run >= self.patience:
                fresh = sampler.draw(1)
                if len(fresh):
                    study.enqueue_trial(problem.params(int(fresh[0])))
                free_run = 0
