"""Issue 18's one GPU run: the operator table on CuPy, the chapter's step against PyTorch CUDA,
a short training run and predicted against measured GPU memory, into results/gpu.json.

On a machine with an NVIDIA GPU, CuPy and PyTorch with CUDA (no network needed)::

    PYTHONPATH=. python3 benchmarks/gpu.py              # about 5 minutes; writes results/gpu.json

Without a GPU it says so in one line and exits 2.  ``--dry-run`` runs every part on the CPU's
strict test device (``chainrule.testing.strict``) at small sizes, so the script itself is
tested where no GPU is (the table then shows the operators that still reach around NumPy).

Each part runs on its own; one that fails is recorded with its error and the rest go on.  The
targets (issue 18): every table case passing, the step within 1.2x of PyTorch CUDA eager at
batch 4096, hidden 1024, float32, and the measured step memory within 10% of the prediction.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "gpu.json"
TARGETS = {"step_ratio": 1.2, "memory_within": 0.10}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true",
                        help="every part on the CPU's strict test device, at small sizes")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"where to write the figures (default {RESULTS}; a dry run "
                             "writes nothing unless given)")
    parser.add_argument("--steps", type=int, default=50, help="timed steps per library (50)")
    args = parser.parse_args(argv)

    import chainrule as cr
    from chainrule import backend

    if args.dry_run:
        from chainrule.testing import strict
        strict.register()
        device, sizes = "strict", {"batch": 64, "hidden": 32}
    else:
        reason = backend.load_cuda()
        if reason:
            print(f"benchmarks/gpu.py: no GPU here: {reason}", file=sys.stderr)
            return 2
        device, sizes = "cuda", {"batch": 4096, "hidden": 1024}
    out = args.out if args.out is not None else (None if args.dry_run else RESULTS)

    report = {"machine": _machine(cr, device), "device": device, "sizes": sizes,
              "targets": TARGETS}
    parts = [("table", lambda: _table(cr, device)),
             ("step", lambda: _step(cr, device, sizes, args.steps)),
             ("training", lambda: _training(cr, device, args.dry_run)),
             ("memory", lambda: _memory(cr, device, sizes))]
    for name, part in parts:
        started = time.perf_counter()
        try:
            report[name] = part()
        except Exception as exc:                   # a part that fails is a figure too
            report[name] = {"error": f"{type(exc).__name__}: {exc}",
                            "where": traceback.format_exc(limit=-3)}
        report[name]["seconds"] = round(time.perf_counter() - started, 1)
        print(f"{name}: {_summary(report[name])}", flush=True)
        backend.activate(backend.CPU)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"written to {out}")
    return 0


def _machine(cr, device: str) -> dict:
    info = {"python": platform.python_version(), "numpy": np.__version__,
            "platform": platform.platform(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    try:
        info["git_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                            capture_output=True, text=True,
                                            cwd=HERE.parent).stdout.strip()
    except OSError:
        pass
    if device == "cuda":
        cupy = cr.backend.PLACEMENTS["cuda"].xp
        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"]
        info.update(gpu=name.decode() if isinstance(name, bytes) else str(name),
                    gpu_memory=int(props["totalGlobalMem"]), cupy=cupy.__version__,
                    cuda_runtime=int(cupy.cuda.runtime.runtimeGetVersion()))
    torch = _torch()
    if torch is not None:
        info["torch"] = torch.__version__
    return info


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _summary(part: dict) -> str:
    if "error" in part:
        return "ERROR " + part["error"]
    return ", ".join(f"{k}={v}" for k, v in part.items()
                     if not isinstance(v, (dict, list)) and k != "seconds")


# ---------------------------------------------------------------------------------- table
def _table(cr, device: str) -> dict:
    """Every sample of every operator on ``device``: the forward against the CPU's, then the
    float64 checks of tests/ops (first and second order, reverse and forward mode)."""
    from chainrule import backend
    from chainrule.ops import OPS
    from chainrule.testing import gradcheck, gradgradcheck

    place = backend.PLACEMENTS[device]

    def there(value):
        if isinstance(value, np.ndarray):
            return place.from_host(value)
        if isinstance(value, (tuple, list)):
            return type(value)(there(v) for v in value)
        return value

    checks = {
        "forward": None,
        "first order, reverse and forward": lambda f, a: gradcheck(f, a, device=device),
        "second order, reverse over reverse": lambda f, a: gradgradcheck(
            f, a, modes=("rev",), device=device),
        "second order, forward over reverse": lambda f, a: gradgradcheck(
            f, a, modes=("fwd",), device=device),
    }
    passed, failed = 0, []
    for op in OPS.values():
        if not op.differentiable:
            continue
        for k, sample in enumerate(op.samples(np.random.default_rng(0))):
            params = {key: there(v) for key, v in sample.params.items()}

            def f(*args, op=op, params=params):
                return op(*args, **params)
            for label, check in checks.items():
                try:
                    if check is None:
                        ours = f(*[cr.tensor(a, device=device) if isinstance(a, np.ndarray)
                                   else a for a in sample.args]).numpy()
                        cpu = op(*[cr.tensor(a) if isinstance(a, np.ndarray) else a
                                   for a in sample.args], **sample.params).numpy()
                        np.testing.assert_allclose(ours, cpu, rtol=1e-10, atol=1e-12)
                    else:
                        check(f, sample.args)
                    passed += 1
                except Exception as exc:
                    failed.append(f"{op.name}-{k} {label}: {type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0][:200]}")
                backend.activate(backend.CPU)
    return {"cases": passed + len(failed), "passed": passed, "failed_count": len(failed),
            "failed": failed, "target_met": not failed}


# ---------------------------------------------------------------------------------- step
def _step(cr, device: str, sizes: dict, steps: int) -> dict:
    """The chapter's step (``J = L + s``, backward, SGD) at the given sizes in float32:
    chainrule eager, chainrule replayed (``cr.compile``) and PyTorch eager on the same GPU."""
    from chainrule import backend, models

    n, hidden, lr, lam = sizes["batch"], sizes["hidden"], 0.1, 1e-4
    rng = np.random.default_rng(0)
    x_host = rng.random((n, 784)).astype(np.float32)
    y_host = rng.integers(0, 10, n)
    sync = backend.PLACEMENTS[device].synchronize
    x, y = cr.tensor(x_host, device=device), cr.tensor(y_host, device=device)

    model = models.ChapterMLP(784, hidden, 10, weight_decay=lam, seed=0).to(device)
    opt = cr.optim.SGD(model.parameters(), lr=lr)

    def eager():
        J = model.objective(x, y)
        opt.zero_grad()
        J.backward()
        opt.step()

    twin = models.ChapterMLP(784, hidden, 10, weight_decay=lam, seed=0).to(device)
    params = twin.parameters()

    def loss_and_grads(x, y):
        J = twin.objective(x, y)
        return (J, *cr.grad(J, params))
    compiled = cr.compile(loss_and_grads)

    def replayed():
        _, *grads = compiled(x, y)
        with cr.no_grad():
            for p, g in zip(params, grads):
                p -= lr * g

    out = {"chainrule_s": _median(eager, sync, steps),
           "chainrule_compiled_s": _median(replayed, sync, steps)}
    torch = _torch()
    where = "cuda" if device == "cuda" else "cpu"
    if torch is not None and (where == "cpu" or torch.cuda.is_available()):
        W1 = torch.tensor(model.W1.numpy(), device=where, requires_grad=True)
        W2 = torch.tensor(model.W2.numpy(), device=where, requires_grad=True)
        tx, ty = torch.tensor(x_host, device=where), torch.tensor(y_host, device=where)

        def torch_step():
            o = torch.relu(tx @ W1.T) @ W2.T
            J = torch.nn.functional.cross_entropy(o, ty) + lam / 2 * (
                (W1 ** 2).sum() + (W2 ** 2).sum())
            J.backward()
            with torch.no_grad():
                W1.add_(W1.grad, alpha=-lr)
                W2.add_(W2.grad, alpha=-lr)
            W1.grad = W2.grad = None

        tsync = torch.cuda.synchronize if where == "cuda" else (lambda: None)
        out["torch_s"] = _median(torch_step, tsync, steps)
        out["torch_device"] = where
        out["ratio"] = round(out["chainrule_s"] / out["torch_s"], 3)
        out["compiled_ratio"] = round(out["chainrule_compiled_s"] / out["torch_s"], 3)
        out["target_met"] = out["ratio"] <= TARGETS["step_ratio"]
    else:
        out["torch"] = "PyTorch with CUDA is not installed: no ratio"
    return out


def _median(fn, sync, steps: int, warmup: int = 5) -> float:
    """The median time of ``steps`` calls of ``fn``, each synchronised on both sides."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# ---------------------------------------------------------------------------------- training
def _training(cr, device: str, dry_run: bool) -> dict:
    """The chapter's network on the bundled digits, a few epochs on the device and on the CPU
    from the same seed (the accuracies should agree); then ``chainrule train --device``."""
    from chainrule import models
    from chainrule.data import load_dataset

    x_train, y_train, x_test, y_test = load_dataset("digits")
    accuracy = {}
    for where in (device, "cpu"):
        cr.manual_seed(0)
        model = models.ChapterMLP(x_train.shape[1], 64, 10, weight_decay=1e-4, seed=0).to(where)
        opt = cr.optim.SGD(model.parameters(), lr=0.1)
        order = np.random.default_rng(0)
        for _ in range(5):
            for batch in np.array_split(order.permutation(len(x_train)), len(x_train) // 64):
                xb = cr.tensor(x_train[batch].astype(np.float32), device=where)
                yb = cr.tensor(y_train[batch], device=where)
                J = model.objective(xb, yb)
                opt.zero_grad()
                J.backward()
                opt.step()
        with cr.no_grad():
            logits = model(cr.tensor(x_test.astype(np.float32), device=where)).numpy()
        accuracy[where] = float((logits.argmax(axis=1) == y_test).mean())
    out = {"digits_test_accuracy": accuracy[device], "cpu_test_accuracy": accuracy["cpu"],
           "same_accuracy": abs(accuracy[device] - accuracy["cpu"]) <= 0.01}
    if not dry_run:
        with tempfile.TemporaryDirectory() as folder:
            run = subprocess.run(
                [sys.executable, "-m", "chainrule", "train", "--device", device, "--dataset",
                 "digits", "--epochs", "3", "--no-progress", "--out", f"{folder}/run"],
                capture_output=True, text=True, timeout=240,
                env={**os.environ, "PYTHONPATH": str(HERE.parent)})
            out["cli_exit"] = run.returncode
            out["cli_tail"] = (run.stdout + run.stderr).strip().splitlines()[-3:]
    return out


# ---------------------------------------------------------------------------------- memory
def _memory(cr, device: str, sizes: dict) -> dict:
    """``memory.predict`` against the step measured on the device (CuPy's pool on a GPU)."""
    from chainrule import models
    from chainrule.memory import predict
    from chainrule.memory.measure import measure

    model = models.ChapterMLP(784, sizes["hidden"], 10, weight_decay=1e-4, seed=0)
    predicted = predict(model, sizes["batch"])
    measured = measure(model.to(device), sizes["batch"])
    arrays = predicted.training_bytes - getattr(predicted, "overhead_bytes", 0)
    error = measured["training_bytes"] / max(arrays, 1) - 1
    return {"predicted_training_bytes": predicted.training_bytes,
            "predicted_array_bytes": arrays,
            "measured_training_bytes": measured["training_bytes"],
            "predicted_prediction_bytes": predicted.prediction_bytes,
            "measured_prediction_bytes": measured["prediction_bytes"],
            "relative_error": round(error, 4),
            "target_met": abs(error) <= TARGETS["memory_within"]}


if __name__ == "__main__":
    sys.exit(main())
