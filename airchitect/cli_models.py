"""``airchitect train``, ``finetune`` and ``evaluate-model``: the learned recommender.

Registered on the main app by :mod:`airchitect.cli`; flags in, ``models`` calls, tables out.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from airchitect.cli import _console, _print_json, _user_errors, app
from airchitect.designs import flag

# options shared by train and finetune
Split = Annotated[str, typer.Option(help="random, family:A[,B] or model:A[,B] held out.")]
Seed = Annotated[int, typer.Option(help="Seed of the split, init and batches.")]
BatchSize = Annotated[int, typer.Option(help="Rows per step.")]
Accelerator = Annotated[str, typer.Option(help="cpu, gpu, auto (Lightning).")]
Devices = Annotated[str, typer.Option(help="Devices per node, e.g. 1, 4 or auto.")]


def _devices(value: str) -> int | str:
    return int(value) if value.isdigit() else value


@app.command()
@_user_errors
def train(
    data: Annotated[Path, typer.Option(help="Dataset directory (airchitect generate).")],
    out: Annotated[Path, typer.Option(help="Run directory: model.pt, logs, checkpoints.")],
    config: Annotated[
        Path | None, typer.Option(help="YAML of TrainConfig fields; flags given override it.")
    ] = None,
    split: Annotated[
        str | None, typer.Option(help="random (default), family:A[,B] or model:A[,B] held out.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs (default 50).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Rows per step (default 256).")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate (default 1e-3).")] = None,
    contrastive: Annotated[
        bool | None, typer.Option(help="Supervised contrastive stage (default on).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of split, init, batches (0).")] = None,
    given_knob: Annotated[
        list[str] | None,
        typer.Option(help="A knob the user fixes (e.g. dataflow): an input, not a prediction."),
    ] = None,
    near_optimal_rtol: Annotated[
        float | None,
        typer.Option(
            help="Runners-up within this relative cost of the label also count as "
            "right answers (default 0: the label only)."
        ),
    ] = None,
    near_optimal_slots: Annotated[
        int | None,
        typer.Option(
            help="Designs per near-optimal set: the label and up to this many - 1 "
            "runners-up (default 9; the data keeps `generate --top-k` of them)."
        ),
    ] = None,
    budget_features: Annotated[
        bool | None,
        typer.Option(
            help="Tell the model the largest PE array its budget affords (an input "
            "token; default off)."
        ),
    ] = None,
    stream: Annotated[bool, typer.Option(help="Stream shards (data larger than memory).")] = False,
    accelerator: Accelerator = "cpu",
    devices: Devices = "1",
    strategy: Annotated[str, typer.Option(help="auto, ddp, ... (Lightning).")] = "auto",
    num_nodes: Annotated[int, typer.Option(help="Nodes for multi-node training.")] = 1,
) -> None:
    """Train the recommender on a generated dataset; writes RUN/model.pt."""
    import torch

    from airchitect.models.train import TrainConfig
    from airchitect.models.train import train as run

    if accelerator == "cpu":
        torch.set_num_threads(1)  # shared cores: parallelism comes from processes
    fields = _config_file(config) if config else {}
    flags = {"split": split, "max_epochs": epochs, "batch_size": batch_size, "lr": lr,
             "contrastive": contrastive, "seed": seed, "near_optimal_rtol": near_optimal_rtol,
             "near_optimal_slots": near_optimal_slots, "budget_features": budget_features,
             "given_knobs": tuple(given_knob) if given_knob else None}  # fmt: skip
    fields |= {k: v for k, v in flags.items() if v is not None}
    fields |= {"stream": stream, "accelerator": accelerator, "devices": _devices(devices),
               "strategy": strategy, "num_nodes": num_nodes}  # fmt: skip
    bundle = run(data, out, TrainConfig(**fields))
    typer.echo(f"model written to {bundle}")
    _print_metrics(out / "run.json")


def _print_metrics(run_json: Path) -> None:
    """The best epoch's validation metrics, from the run's ``run.json``."""
    metrics = json.loads(run_json.read_text()).get("metrics", {}) if run_json.is_file() else {}
    if metrics:
        shown = ", ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items()))
        typer.echo(f"validation (best epoch): {shown}")


def _config_file(path: Path) -> dict:
    """TrainConfig fields from a YAML file; unknown keys are named in the error."""
    import dataclasses

    import yaml

    from airchitect.designs import existing_file
    from airchitect.models.train import TrainConfig
    from airchitect.strict_yaml import StrictLoader

    with flag("--config"):
        data = yaml.load(existing_file(path).read_text(), Loader=StrictLoader)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of TrainConfig fields")
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown field(s) {unknown}; allowed: {sorted(known)}")
    return data


#: FinetuneConfig field -> the flag that sets it, so errors name what the user typed
_FINETUNE_FLAGS = {"max_epochs": "--epochs"}
_FIELD = re.compile(r"field '(\w+)'")


@app.command()
@_user_errors
def finetune(
    from_: Annotated[Path, typer.Option("--from", help="Trained run directory or model.pt.")],
    data: Annotated[Path, typer.Option(help="Dataset directory over the model's design space.")],
    out: Annotated[Path, typer.Option(help="Run directory: model.pt, logs, checkpoints.")],
    freeze: Annotated[
        str, typer.Option(help="encoder: train the decoder and heads only; none: train all.")
    ] = "encoder",
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 3e-4,
    epochs: Annotated[int, typer.Option(help="Maximum epochs (early stopping on val loss).")] = 10,
    max_rows: Annotated[
        int | None, typer.Option(help="At most this many training rows (seeded sample).")
    ] = None,
    split: Split = "random",
    seed: Seed = 0,
    batch_size: BatchSize = 256,
    accelerator: Accelerator = "cpu",
    devices: Devices = "1",
) -> None:
    """Fine-tune a trained model on new data (same space, the model's feature statistics)."""
    import torch

    from airchitect.models.bundle import bundle_file
    from airchitect.models.finetune import FinetuneConfig
    from airchitect.models.finetune import finetune as run

    try:
        config = FinetuneConfig(freeze=freeze, lr=lr, max_epochs=epochs, max_rows=max_rows,
                                split=split, seed=seed, batch_size=batch_size,
                                accelerator=accelerator, devices=_devices(devices))  # fmt: skip
    except ValueError as exc:
        found = _FIELD.search(str(exc))
        name = found.group(1) if found else ""
        option = _FINETUNE_FLAGS.get(name, "--" + name.replace("_", "-"))
        raise ValueError(f"{option}: {exc}" if found else str(exc)) from None
    with flag("--from"):
        bundle_file(from_)
    if accelerator == "cpu":
        torch.set_num_threads(1)  # shared cores: parallelism comes from processes
    summary = run(from_, data, out, config)
    params = summary["parameters"]
    typer.echo(
        f"model written to {summary['bundle']} (fine-tuned from {from_}; "
        f"{params['trainable']:,} trainable, {params['frozen']:,} frozen parameters; "
        f"{summary['rows']['train']:,} training rows)"
    )


@app.command("train-ranker")
@_user_errors
def train_ranker(
    model: Annotated[Path, typer.Option(help="A trained run directory or its model.pt.")],
    data: Annotated[Path, typer.Option(help="The dataset the run trained on.")],
    rows: Annotated[
        int | None, typer.Option(help="Training rows whose candidates are mapped (10,000).")
    ] = None,
    val_rows: Annotated[
        int | None, typer.Option(help="Validation rows that judge the ranker (2,000).")
    ] = None,
    candidates: Annotated[int | None, typer.Option(help="Candidates ranked per row (16).")] = None,
    label_bonus: Annotated[
        float | None,
        typer.Option(
            help="Target penalty of non-label designs, so near-ties go to the label "
            "(0.15, chosen on validation rows)."
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Passes over the candidates (25).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the row sample and MLP (0).")] = None,
    keep_if_better: Annotated[
        bool, typer.Option(help="Keep the ranker only if it beats the decoder on validation rows.")
    ] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Fit a learned ranker over the decoder's candidates, scored by the cost model; it is
    stored in the run's model.pt when it beats the decoder's own order on validation rows."""
    import torch

    from airchitect.models.bundle import bundle_file
    from airchitect.models.ranker import RankerConfig
    from airchitect.models.ranker import train_ranker as run
    from airchitect.serve.bundle import META_NAME

    torch.set_num_threads(1)
    given = {"rows": rows, "val_rows": val_rows, "candidates": candidates,
             "label_bonus": label_bonus, "epochs": epochs, "seed": seed}  # fmt: skip
    try:  # unset flags keep RankerConfig's defaults, the one place they are set
        fields = {k: v for k, v in given.items() if v is not None}
        config = RankerConfig(**fields, keep_if_better=keep_if_better)
    except ValueError as exc:
        found = _FIELD.search(str(exc))  # every field's flag is its name in kebab case
        option = "--" + found.group(1).replace("_", "-") if found else ""
        raise ValueError(f"{option}: {exc}" if found else str(exc)) from None
    with flag("--model"):
        path = bundle_file(model)
        if (path.parent / META_NAME).is_file():  # its ranker.npz and meta.json would go stale
            raise ValueError(f"{model} is a serving bundle; fit the ranker on a run directory, "
                             "then export it (airchitect export)")  # fmt: skip
    summary = run(path, data, config, progress=True)
    if json_out:
        _print_json(summary)
        return
    table = Table(title=f"validation rows ({summary['decoder']['rows']:,})")
    for header in ("order", "regret gmean", "top-5 regret gmean", "exact design"):
        table.add_column(header, justify="right")
    for name in ("decoder", "ranker"):
        m = summary[name]
        table.add_row(name, f"{m['regret']:.3f}", f"{m['top5_regret']:.3f}", f"{m['exact']:.1%}")
    _console().print(table)
    verdict = "kept in" if summary["kept"] else "not kept (no better than the decoder's order) in"
    typer.echo(f"ranker {verdict} {path}")


def _named_paths(items: list[str] | None, option: str, what: str) -> list[tuple[str, Path]]:
    """``NAME=PATH`` option values as (name, path) pairs; a malformed one is a usage error."""
    pairs = []
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise typer.BadParameter(f"expected NAME={what}, got {item!r}", param_hint=option)
        pairs.append((name, Path(path)))
    return pairs


@app.command("evaluate-model")
@_user_errors
def evaluate_model(
    model: Annotated[Path, typer.Option(help="A run directory or its model.pt.")],
    data: Annotated[Path, typer.Option(help="Dataset directory.")],
    split: Annotated[str | None, typer.Option(help="Held-out split; default: the model's.")] = None,
    baselines: Annotated[bool, typer.Option(help="Also score the baselines.")] = True,
    max_rows: Annotated[int, typer.Option(help="Test rows scored (seeded sample).")] = 5000,
    compare: Annotated[
        list[str] | None,
        typer.Option(help="NAME=RUN: another model (an ablation) scored on the same rows."),
    ] = None,
    served: Annotated[
        list[str] | None,
        typer.Option(
            help="NAME=BUNDLE: a serving bundle's answers (decoder top-k and "
            "neighbours, re-ranked by the cost model) scored on the same rows."
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Accuracy and regret (recommended cost / label cost) on held-out rows, with baselines."""
    import torch

    from airchitect.models.bundle import bundle_file
    from airchitect.models.evaluate import evaluate_run

    torch.set_num_threads(1)
    with flag("--model"):
        bundle = bundle_file(model)
    extra = {}
    for name, run in _named_paths(compare, "--compare", "RUN"):
        with flag("--compare"):
            extra[name] = str(bundle_file(run))
    methods = {}
    for name, path in _named_paths(served, "--served", "BUNDLE"):
        from airchitect.serve.evaluate import served_method

        with flag("--served"):
            methods[f"{name} (served answer)"] = served_method(path)
    cards = evaluate_run(bundle, data, split, baselines, max_rows, extra, progress=True,
                         extra_methods=methods)  # fmt: skip
    if json_out:
        _print_json([c.to_dict() for c in cards])
        return
    table = Table(title=f"held-out rows of {data} ({cards[0].rows:,})")
    for header in ("method", "exact design", "valid", "regret gmean", "regret p90",
                   "top-5 valid", "top-5 regret gmean", "top-5 p90"):  # fmt: skip
        table.add_column(header, justify="right")
    for c in cards:
        table.add_row(c.name, f"{c.exact_accuracy:.1%}", f"{c.valid_share:.1%}",
                      f"{c.regret_geomean:.3f}", f"{c.regret_p90:.3f}", f"{c.top5_valid_share:.1%}",
                      f"{c.top5_regret_geomean:.3f}", f"{c.top5_regret_p90:.3f}")  # fmt: skip
    _console().print(table)
