"""Run `dnnc conform` on every example and write docs/conformance.md.

    python benchmarks/conformance_report.py                 # or: make conformance-report
    python benchmarks/conformance_report.py --seeds 2 --only mnist_bn_dropout xor
    python benchmarks/conformance_report.py --render-only   # rebuild the Markdown from the saved results

* MNIST and Fashion-MNIST networks: every level (structure, numeric, training
  with ``--seeds`` seeds, 3 by default, the spec's epochs);
* the other examples: structure and numeric;
* strict parity: ``examples/mnist_bn_dropout.toml`` trained with keras and
  torch under ``training.strict_parity``, compared after epochs 1, 2 and 5.

Long-running (about an hour and a half on 2 CPU cores with the default seeds).
It is **resumable**: every run writes ``<work-dir>/<example>.json`` (the
`dnnc conform` report) and ``<example>.meta.json`` (command, settings, exit
code, seconds); a later invocation skips the runs whose results exist with
the same settings (``--force`` reruns them).  Progress is printed as it goes.

Each run is a separate process (``python -m dnnc conform …``; set
``DNNC_CONFORM_CMD`` to use another command prefix), so a strict-parity run's
process-wide determinism switches never leak into another run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DEFAULT_WORK = ROOT / "benchmarks" / "results" / "conformance"
DEFAULT_OUT = ROOT / "docs" / "conformance.md"
TRAINING_DATASETS = ("mnist", "fashion_mnist")
PARITY_SPEC = EXAMPLES / "mnist_bn_dropout.toml"
PARITY_EPOCHS = (1, 2, 5)
DEFAULT_SEEDS = 3
PARITY_SETTINGS = {"spec": str(PARITY_SPEC.relative_to(ROOT)), "epochs": list(PARITY_EPOCHS), "backends": "keras,torch",
                   "controls": ["1 ulp", "without strict parity"]}

LECTURE_ACCURACY = {
    "mnist_bn_dropout": 97.7,
    "fashion_mlp_sgd": 87.9,
}
"""Example → test accuracy (%) reported in the lecture the examples come from."""

NUMERIC_GROUPS = [
    ("outputs", ("inference output", "training-mode output")),
    ("moving stats", ("moving statistics",)),
    ("loss", ("loss",)),
    ("gradients", ("gradient",)),
    ("trajectory loss", ("trajectory loss",)),
    ("trajectory weights", ("trajectory weights",)),
]


def log(text: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {text}", flush=True)


# ---------------------------------------------------------------------------
# planning
# ---------------------------------------------------------------------------

def dataset_of(spec: Path) -> str:
    import tomllib

    data = tomllib.loads(spec.read_text()).get("data") or {}
    ds = data.get("dataset")
    return ds.get("type", "?") if isinstance(ds, dict) else str(ds)


def epochs_of(spec: Path) -> int | None:
    import tomllib

    return (tomllib.loads(spec.read_text()).get("training") or {}).get("epochs", 10)


def seeds_of(spec: Path, requested: int | None) -> int:
    """--seeds, else the spec's ``[conformance] seeds`` when it sets one, else DEFAULT_SEEDS."""
    import tomllib

    if requested is not None:
        return requested
    return int((tomllib.loads(spec.read_text()).get("conformance") or {}).get("seeds", DEFAULT_SEEDS))


def plan(args) -> list[dict[str, Any]]:
    items = []
    for spec in sorted(EXAMPLES.glob("*.toml")):
        if args.only and spec.stem not in args.only:
            continue
        dataset = dataset_of(spec)
        training = dataset in TRAINING_DATASETS and not args.no_training
        items.append({
            "example": spec.stem, "spec": str(spec.relative_to(ROOT)), "dataset": dataset,
            "level": "all" if training else "structure,numeric", "backends": args.backends,
            "seeds": seeds_of(spec, args.seeds) if training else None, "epochs": epochs_of(spec) if training else None,
        })
    return items


def settings_key(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item[k] for k in ("spec", "level", "backends", "seeds")}


def conform_command() -> list[str]:
    custom = os.environ.get("DNNC_CONFORM_CMD")
    return shlex.split(custom) if custom else [sys.executable, "-m", "dnnc"]


def check_command(prefix: list[str]) -> None:
    out = subprocess.run([*prefix, "conform", "--help"], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        sys.exit(f"`{' '.join(prefix)} conform --help` failed (exit {out.returncode}); is the conform command "
                 f"registered in dnnc/cli/app.py?\n{out.stdout}{out.stderr}")


# ---------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------

def run_item(item: dict[str, Any], args, prefix: list[str], index: int, total: int) -> None:
    work: Path = args.work_dir
    report, meta_path = work / f"{item['example']}.json", work / f"{item['example']}.meta.json"
    chart = work / f"{item['example']}.png"
    if report.is_file() and meta_path.is_file() and not args.force:
        meta = json.loads(meta_path.read_text())
        if meta.get("settings") == settings_key(item):
            log(f"[{index}/{total}] {item['example']}: done before ({meta.get('verdict')}, {meta.get('seconds')} s) — skipped")
            return
    cmd = [*prefix, "conform", item["spec"], "--backends", item["backends"], "--level", item["level"],
           "--report", str(report)]
    if item["seeds"]:
        cmd += ["--seeds", str(item["seeds"]), "--chart", str(chart)]
    if args.data_dir:
        cmd += ["--data-dir", str(args.data_dir)]
    what = (f"all levels, {item['seeds']} seeds × {item['epochs']} epochs × {len(item['backends'].split(','))} backends"
            if item["seeds"] else "structure + numeric")
    log(f"[{index}/{total}] {item['example']}: {what}")
    log("    " + " ".join(shlex.quote(c) for c in cmd))
    started = time.perf_counter()
    log_path = work / f"{item['example']}.log"
    with open(log_path, "w") as out:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=None if args.verbose else subprocess.DEVNULL)
    seconds = round(time.perf_counter() - started, 1)
    verdict = json.loads(report.read_text())["verdict"] if report.is_file() else "ERROR"
    meta = {"settings": settings_key(item), "command": cmd, "exit_code": proc.returncode, "seconds": seconds,
            "verdict": verdict, "finished": dt.datetime.now().isoformat(timespec="seconds")}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    log(f"[{index}/{total}] {item['example']}: {verdict} (exit {proc.returncode}) in {seconds} s; output in {log_path}")


def run_parity(args) -> None:
    out = args.work_dir / "strict_parity.json"
    settings = PARITY_SETTINGS
    if out.is_file() and not args.force and json.loads(out.read_text()).get("settings") == settings:
        log("strict parity: done before — skipped")
        return
    log(f"strict parity: {PARITY_SPEC.name}, keras vs torch, epochs {', '.join(map(str, PARITY_EPOCHS))} "
        "(one 5-epoch run per backend)")
    started = time.perf_counter()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--measure-parity", str(out)]
    if args.data_dir:
        cmd += ["--data-dir", str(args.data_dir)]
    proc = subprocess.run(cmd, cwd=ROOT)
    log(f"strict parity: exit {proc.returncode} in {time.perf_counter() - started:.0f} s")


def measure_parity_main(out: Path, data_dir: Path | None) -> None:
    """(In a child process.)  Measure strict parity and save it as JSON."""
    from dnnc.compiler.compile import compile_spec
    from dnnc.conformance.conform import load_datasets
    from dnnc.conformance.options import resolve_backends
    from dnnc.conformance.parity import measure_parity

    ir = compile_spec(PARITY_SPEC)
    datasets = load_datasets(ir, spec_path=PARITY_SPEC, data_dir=data_dir)
    backends = resolve_backends(["keras", "torch"])
    strict = measure_parity(ir, backends, datasets, PARITY_EPOCHS, noise_floor=True)
    loose = measure_parity(ir, backends, datasets, PARITY_EPOCHS, strict=False)
    payload = {"settings": PARITY_SETTINGS,
               "result": strict.to_dict(), "markdown": strict.markdown(),
               "without_strict_parity": {"result": loose.to_dict(), "markdown": loose.markdown()}}
    out.write_text(json.dumps(payload, indent=2) + "\n")


# ---------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------

def _g(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.2g}" if x and abs(x) < 1e-3 else f"{x:.3g}"


def numeric_row(level: dict[str, Any], backend: str) -> list[str]:
    cells = []
    for _, names in NUMERIC_GROUPS:
        checks = [c for c in level["checks"] if c["backend"] == backend and c["name"] in names]
        measured = [c for c in checks if isinstance(c.get("error"), (int, float)) and c["status"] != "SKIP"]
        if not measured:
            cells.append("-")
            continue
        worst = max(measured, key=lambda c: c["error"] / (c["tolerance"] or 1))
        mark = "" if all(c["status"] != "FAIL" for c in checks) else " ✗"
        cells.append(f"{_g(worst['error'])} / {_g(worst['tolerance'])}{mark}")
    return cells


def render(args, items: list[dict[str, Any]]) -> str:
    work: Path = args.work_dir
    reports = {}
    for item in items:
        path = work / f"{item['example']}.json"
        if path.is_file():
            reports[item["example"]] = (item, json.loads(path.read_text()))
    env = next((r["environment"] for _, r in reports.values()), {})
    backends = args.backends.split(",")
    lines = [
        "# Conformance of the dnnc backends",
        "",
        "<!-- generated by benchmarks/conformance_report.py; do not edit by hand -->",
        "",
        f"Generated on {dt.date.today():%Y-%m-%d} with dnnc {env.get('dnnc', '?')}, "
        + ", ".join(f"{k} {env[k]}" for k in ("keras", "tensorflow", "tensorflow-cpu", "torch", "numpy") if k in env)
        + f", Python {env.get('python', '?')} on {env.get('platform', '?')}. Regenerate with:",
        "",
        "```sh",
        "make conformance-report      # = python benchmarks/conformance_report.py "
        f"--backends {args.backends}" + (f" --seeds {args.seeds}" if args.seeds else ""),
        "```",
        "",
        f"Each line below is one `dnnc conform` run (the first backend, `{backends[0]}`, is the reference); the "
        f"JSON reports are in `{work.relative_to(ROOT) if work.is_relative_to(ROOT) else work}/`. "
        "MNIST and Fashion-MNIST networks run every level, training with "
        + (f"{args.seeds} seeds" if args.seeds else f"the spec's `[conformance] seeds` ({DEFAULT_SEEDS} when unset)")
        + " and the spec's epochs; the other examples run the structure and numeric levels.",
        "",
        "## What `dnnc conform` checks",
        "",
        "```sh",
        "dnnc conform SPEC --backends keras,torch[,…] [--level structure|numeric|training|all] [--seeds N]",
        "             [--tolerance PP] [--strict] [--report R.json] [--markdown R.md] [--chart C.png]",
        "             [--data-dir D] [--epochs N] [--trajectory-steps 20] [--set KEY=VALUE …]",
        "pytest --pyargs dnnc.conformance --dnnc-backend NAME [--dnnc-spec SPEC …]",
        "```",
        "",
        "The first backend is the reference; exit status 0 only when every requested level passes.",
        "",
        "- **structure** — every backend keeps the compiled IR (JSON equal), gives the loaded weights back bit "
        "for bit, and its framework counts exactly the IR's (trainable, non-trainable) parameters per layer.",
        "- **numeric** — every backend (the first one too) judged against dnnc's float64 oracle "
        "(`dnnc/reference`): each element must lie within its own float32 error bound B of the oracle's value, "
        "|Δ| ≤ B, B being computed alongside the value by first-order error analysis: hyperparameters carry their "
        "float32 representation error, every elementwise rounding adds u·|v| (transcendental functions a few "
        "ulps), a sum of n terms adds min(n, 8√n)·u·Σ|terms| (Higham & Mary's probabilistic bound, λ = 8) and "
        "combines its operands' bounds in root sum square, an element within float32 noise of a ReLU kink, a "
        "clipping bound or a max/maxout tie is judged with both one-sided values, and an optimizer step is "
        "bounded by perturbing its gradient, state and hyperparameters one at a time. From dnnc's "
        "initial weights, on the first two real training batches (runner batch order, dnnc-drawn dropout "
        "masks): inference (straight after `build`) and training-mode outputs, moving statistics, losses and "
        "every gradient; then 20 `train_step`s with the scheduled learning rate and 4 more over a 1.5-batch "
        "subset (two epoch ends, each a partial batch), each step judged from the backend's own weights before "
        "it (the oracle's optimizer predicts the step, its state following the backend), so float32's "
        "amplification over many steps (chaotic ReLU nets, Adam's near-ε gradients) is never mistaken for a "
        "difference. Details: `dnnc/reference/arith.py`, `dnnc/conformance/numeric.py`.",
        "- **training** — the shared runner trains every backend with N seeds; PASS when the 95 % interval of "
        "mean test accuracy − the reference's lies within ± tolerance (default 0.5 pp, "
        "`[conformance] accuracy_tolerance`). The interval is the paired t interval of the per-seed differences "
        "(the runs of one seed share initial weights and batch order); the Welch interval is reported too.",
        "- **kit** — every case of `dnnc/conformance/cases.py` through the structure and numeric levels against "
        "any installed backend, one verdict per case (the judge is the oracle: no second backend needed); ops "
        "a backend does not declare are skipped with the reason \"unsupported op X by backend Y\".",
        "",
        "## Summary",
        "",
        "| Example | Data | Levels | Verdict | " + " | ".join(f"{b} test accuracy" for b in backends)
        + " | Lecture | Δ vs reference, 95 % paired interval (pp) |",
        "|---|---|---|---|" + "--:|" * len(backends) + "--:|---|",
    ]
    for item in items:
        if item["example"] not in reports:
            lines.append(f"| {item['example']} | {item['dataset']} | {item['level']} | not run | "
                         + " | ".join("" for _ in backends) + " | | |")
            continue
        _, rep = reports[item["example"]]
        accs = []
        for b in backends:
            acc = rep["backends"].get(b, {}).get("test_accuracy")
            accs.append(f"{100 * acc['mean']:.2f} ± {100 * acc['std']:.2f} %" if acc else "-")
        lecture = LECTURE_ACCURACY.get(item["example"])
        comps = (rep["levels"].get("training") or {}).get("comparisons") or []
        interval = "; ".join(f"{c['backend']} {c['diff_pp']:+.2f} [{c['low_pp']:+.2f}, {c['high_pp']:+.2f}]"
                             for c in comps) or "-"
        levels = ", ".join(rep["levels"])
        lines.append(f"| {item['example']} | {item['dataset']} | {levels} | **{rep['verdict']}** | " + " | ".join(accs)
                     + f" | {f'{lecture} %' if lecture else '-'} | {interval} |")
    lines += ["", "The lecture column is the test accuracy the lecture reports for the same network "
              "(a single Keras run).", ""]

    lines += ["## Numeric level", "",
              "Worst |Δ|/B / tolerance of each group of checks, every backend against the float64 oracle (✗: a "
              "check failed): Δ = backend − oracle and B the element's float32 error bound, worst element of the "
              "group. Two real training batches for the single-batch checks, 24 optimizer steps for the trajectory "
              "(see `dnnc/conformance/measures.py`).", "",
              "| Example | Backend | " + " | ".join(name for name, _ in NUMERIC_GROUPS) + " | Verdict |",
              "|---|---|" + "--:|" * len(NUMERIC_GROUPS) + "---|"]
    for item in items:
        if item["example"] not in reports:
            continue
        level = reports[item["example"]][1]["levels"].get("numeric")
        if not level:
            continue
        if level.get("error"):
            lines.append(f"| {item['example']} | - | {level['error']} |" + " |" * len(NUMERIC_GROUPS))
            continue
        for b in backends:
            lines.append(f"| {item['example']} | {b} | " + " | ".join(numeric_row(level, b)) + f" | {level['verdict']} |")
    lines.append("")

    failures = [(ex, m) for ex, (_, rep) in reports.items() for m in rep.get("failures", [])]
    if failures:
        lines += ["### Failures", ""]
        for ex, m in failures[:40]:
            lines.append(f"- `{ex}`: {m}")
        if len(failures) > 40:
            lines.append(f"- … and {len(failures) - 40} more (see the JSON reports)")
        lines.append("")

    training = [(item, rep) for item, rep in reports.values() if "training" in rep["levels"]]
    if training:
        lines += ["## Training level", ""]
        docs_dir = args.out.parent / "conformance"
        for item, rep in training:
            level = rep["levels"]["training"]
            lines += [f"### {item['example']} — {level['verdict']}", ""]
            if level.get("error"):
                lines += [f"Error: {level['error']}", ""]
                continue
            lines.append(f"{len(level['seeds'])} seeds × {level['epochs']} epochs; tolerance ±{level['tolerance_pp']} pp "
                         f"on the {level['confidence']:.0%} interval of the difference of mean test accuracy.")
            for c in level.get("comparisons", []):
                w, p = c.get("welch"), c.get("paired")
                parts = [f"{name} [{iv['low']:+.2f}, {iv['high']:+.2f}] pp" for name, iv in (("paired", p), ("Welch", w)) if iv]
                lines.append(f"`{c['backend']}` − `{c['reference']}`: {c['diff_pp']:+.3f} pp; " + ", ".join(parts)
                             + f" → {c['status']}.")
            lines += ["", "| Backend | Test accuracy per seed | Mean ± std | Test loss (mean ± std) | Minutes per run |",
                      "|---|---|--:|--:|--:|"]
            for b in backends:
                info = rep["backends"].get(b, {})
                acc, loss = info.get("test_accuracy"), info.get("test_loss")
                if not acc:
                    lines.append(f"| {b} | - | - | - | - |")
                    continue
                per_seed = ", ".join(f"{100 * v:.2f}" for v in acc["values"])
                minutes = [r["seconds"] / 60 for r in info.get("runs", [])]
                lines.append(f"| {b} | {per_seed} | {100 * acc['mean']:.2f} ± {100 * acc['std']:.2f} % | "
                             f"{loss['mean']:.4f} ± {loss['std']:.4f} | {sum(minutes) / max(len(minutes), 1):.1f} |")
            chart = args.work_dir / f"{item['example']}.png"
            if chart.is_file():
                docs_dir.mkdir(parents=True, exist_ok=True)
                target = docs_dir / chart.name
                target.write_bytes(chart.read_bytes())
                lines += ["", f"![learning curves of {item['example']}](conformance/{chart.name})"]
            lines.append("")

    parity = args.work_dir / "strict_parity.json"
    lines += ["## Strict parity", ""]
    if parity.is_file():
        data = json.loads(parity.read_text())
        res = data["result"]
        lines += [
            f"`{data['settings']['spec']}` (256-128-64, batch norm, dropout 0.3, Adam, batch 64) trained once per "
            f"backend for {max(res['epochs'])} epochs on the full MNIST training split with "
            "`training.strict_parity = true` (dnnc draws every dropout mask from the seed; TensorFlow op "
            "determinism and `torch.use_deterministic_algorithms` are on), compared at the end of epochs "
            f"{', '.join(map(str, res['epochs']))}. Seconds per run: "
            + ", ".join(f"{b} {s}" for b, s in res["seconds"].items()) + ".", "",
            *data["markdown"], "",
            f"Δ is |run − `{res['reference']}`|; accuracies also as a number of samples. "
            f"`{res['reference']} (1 ulp)` is the control for float32 rounding: the reference backend itself, "
            "restarted from dnnc's initial weights moved by one float32 ulp — how far rounding differences "
            "alone carry a run. The frameworks' kernels round differently (about 1e-7 per operation) and "
            "Adam with batch norm amplifies such differences within a few hundred steps: after an epoch the "
            "weights of the two backends are apart by the same order as the 1-ulp control's, while the "
            "per-epoch metrics stay within a few dozen samples; without strict parity they drift further "
            "(below).", ""]
        loose = data.get("without_strict_parity")
        if loose:
            lines += ["Without strict parity (each framework draws its own dropout masks from its own generator):", "",
                      *loose["markdown"], ""]
        lines += ["`tests/conformance/test_strict_parity.py` guards the agreement on a 6,000-row subset for 2 epochs "
                  "(its docstring lists the values measured over seeds 0–5).", ""]
    else:
        lines += ["Not measured yet (run the script without `--skip-parity`).", ""]

    lines += [
        "## Known limits", "",
        "- The numeric level's resolution is its float32 bound, which holds for any summation order and is "
        "therefore wider than what the frameworks' blocked sums actually round: on the MNIST and "
        "Fashion-MNIST examples the median bound is 2e-5 to 1.4e-4 of an output array's largest value and "
        "2e-6 to 4e-5 of a gradient array's, 200 to 1500 times the reference's own float32 deviation. A "
        "defect that moves values by less than that passes; the detection-power table measures what the "
        "listed defects do.",
        "- Without strict parity the two frameworks' trajectories decorrelate within the first epoch (rounding "
        "differences, and each framework's own dropout masks), so each backend's seeds are independent samples "
        "of the test accuracy and the per-seed differences spread like two independent runs "
        "(σ_d ≈ √2·σ). The training level is an equivalence test: the interval half-width is about "
        "t·σ_d/√N, so a few seeds cannot confirm ±0.5 pp when σ ≈ 0.3–0.4 pp (Fashion-MNIST). Such a FAIL "
        "says \"inconclusive\" and how many seeds would be needed; set `[conformance] seeds` in the spec "
        "(this script honours it) or pass `--seeds`. Networks without dropout trained with SGD often stay "
        "on one trajectory and give identical per-seed accuracies, which the paired interval recognises.",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------

def keep_section(path: Path, text: str, heading: str) -> str:
    """`text` followed by the section `heading` of the file at `path` as it is (benchmarks/detection_power.py
    writes it), when `text` has no such section."""
    old = path.read_text() if path.is_file() else ""
    start = old.find("\n" + heading + "\n")
    if start < 0 or ("\n" + heading + "\n") in text:
        return text
    end = old.find("\n## ", start + 1)
    return text.rstrip("\n") + "\n\n" + old[start + 1:None if end < 0 else end].rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--backends", default="keras,torch", help="comma-separated; the first is the reference")
    parser.add_argument("--seeds", type=int, default=None,
                        help=f"seeds of the training level (default: the spec's [conformance] seeds if it sets them, "
                             f"else {DEFAULT_SEEDS})")
    parser.add_argument("--only", nargs="*", help="example names (file stems) to run")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK, help="where the per-example results go")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the Markdown file to write")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--force", action="store_true", help="rerun even the runs whose results exist")
    parser.add_argument("--no-training", action="store_true", help="structure and numeric levels only")
    parser.add_argument("--skip-parity", action="store_true", help="do not measure strict parity")
    parser.add_argument("--render-only", action="store_true", help="only rebuild the Markdown from saved results")
    parser.add_argument("--verbose", action="store_true", help="show each run's progress bars")
    parser.add_argument("--measure-parity", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure_parity:
        measure_parity_main(args.measure_parity, args.data_dir)
        return 0
    args.work_dir.mkdir(parents=True, exist_ok=True)
    items = plan(args)
    if not args.render_only:
        prefix = conform_command()
        check_command(prefix)
        started = time.perf_counter()
        for i, item in enumerate(items, 1):
            run_item(item, args, prefix, i, len(items))
        if not args.skip_parity and not args.only:
            run_parity(args)
        log(f"all runs finished in {(time.perf_counter() - started) / 60:.1f} min")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(keep_section(args.out, render(args, items), "## Detection power"))
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
