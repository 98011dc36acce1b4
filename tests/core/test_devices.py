"""Devices as PyTorch has them, tested on the strict test device where no GPU is at hand.

The strict device (``chainrule.testing.strict``) is NumPy behind a wall: a second array module
with its own array type, so everything that moves, mixes or saves arrays across devices runs
here as it would between the CPU and a GPU.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import backend, models
from chainrule.memory.measure import measure
from chainrule.storage import load_checkpoint, save_checkpoint
from chainrule.testing import strict

strict.register()
STRICT = cr.device("strict")
NO_GPU = not cr.cuda.is_available()


@pytest.fixture(autouse=True)
def back_on_the_cpu():
    yield
    backend.activate(backend.CPU)


def _on_strict(t) -> bool:
    return t.device == STRICT and isinstance(t._data, strict.StrictArray)


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_one_error_saying_what_to_install():
    assert cr.cuda.device_count() == 0 and cr.cuda.memory_allocated() == 0
    for ask in (lambda: cr.device("cuda"), lambda: cr.device("cuda:0"),
                lambda: cr.tensor([1.0]).to("cuda"), lambda: cr.tensor([1.0]).cuda(),
                lambda: cr.zeros(2, device="cuda"), lambda: cr.nn.Linear(2, 2).cuda()):
        with pytest.raises(cr.DeviceError, match=r"pip install 'chainrule\[cuda\]'.*"
                                                 r"cupy-cuda12x"):
            ask()
    assert cr.device("cuda" if cr.cuda.is_available() else "cpu") == "cpu"


def test_device_names_and_bad_names():
    assert str(cr.device("strict:1")) == "strict:1" and cr.device("strict", 1).index == 1
    assert cr.device("cpu") == "cpu" and cr.device("cpu") != STRICT
    with pytest.raises(cr.DeviceError, match="unknown device type 'tpu'.*'cpu'"):
        cr.device("tpu")
    with pytest.raises(cr.DeviceError, match="whole number"):
        cr.device("cpu:x")
    with pytest.raises(cr.DeviceError, match="a string"):
        cr.device(3)


def test_constructors_take_a_device():
    made = [cr.tensor([1.0, 2.0], device="strict"), cr.zeros(2, 3, device=STRICT),
            cr.ones(2, device="strict"), cr.full((2,), 3.0, device="strict"),
            cr.empty(2, device="strict"), cr.eye(3, device="strict"),
            cr.arange(4, device="strict"), cr.linspace(0, 1, 5, device="strict"),
            cr.randn(2, device="strict"), cr.rand(2, device="strict"),
            cr.randint(0, 3, (2,), device="strict"), cr.normal(0, 1, (2,), device="strict")]
    assert all(_on_strict(t) for t in made)
    like = cr.zeros(2, 2, device="strict")
    assert all(_on_strict(f(like)) for f in (cr.zeros_like, cr.ones_like, cr.rand_like,
                                             cr.randn_like, lambda x: cr.full_like(x, 2.0)))
    assert not _on_strict(cr.zeros_like(like, device="cpu"))
    cr.manual_seed(0)
    there = cr.randn(3, device="strict").numpy()
    cr.manual_seed(0)
    np.testing.assert_array_equal(there, cr.randn(3).numpy())     # one seed, every device
    assert _on_strict(cr.tensor(like)) and cr.tensor(like, device="cpu").device == "cpu"


def test_to_cpu_and_back_copies_and_keeps_values():
    x = cr.tensor([[1.0, 2.0]])
    y = x.to("strict")
    assert _on_strict(y) and y is not x and y.to("strict") is y and y.is_leaf
    assert x.to(y) is not x and _on_strict(x.to(y))        # x.to(other): its device
    back = y.cpu()
    assert back.device == "cpu" and type(back._data) is np.ndarray
    np.testing.assert_array_equal(back.numpy(), x.numpy())
    assert y.to("cpu", cr.float64).dtype == np.float64 and not y.is_cuda


def test_moving_a_tensor_that_requires_grad_is_refused_while_recording():
    w = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(cr.DeviceError, match="requires grad.*model.to"):
        w.to("strict")
    with cr.no_grad():
        assert _on_strict(w.to("strict"))


def test_mixing_devices_names_the_operator_and_both_devices():
    a, b = cr.tensor([1.0, 2.0], device="strict"), cr.tensor([3.0, 4.0])
    for f, name in ((lambda: a * b, "mul"), (lambda: b + a, "add"),
                    (lambda: cr.exp(a) - b, "sub")):
        with pytest.raises(cr.DeviceError) as info:
            f()
        text = str(info.value)
        assert text.startswith(name) and "strict" in text and "cpu" in text, text
    with pytest.raises(cr.DeviceError, match="mul: x is on strict but y is on cpu"):
        a * b._data                                  # a host array is the CPU's too
    assert _on_strict(a * a) and _on_strict(a * 2.0) and _on_strict(2.0 - a)  # the control


def test_module_to_moves_parameters_grads_and_the_optimizer_state():
    net = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU(), cr.nn.Linear(4, 2))
    opt = cr.optim.Adam(net.parameters(), lr=0.01)
    x = cr.randn(5, 3)
    net(x).sum().backward()
    opt.step()                                     # state made on the CPU
    params = net.parameters()
    assert net.to("strict") is net and net.parameters() == params
    assert all(_on_strict(p) and _on_strict(p.grad) for p in params)
    opt.zero_grad()
    net(x.to("strict")).sum().backward()
    opt.step()                                     # the state follows the parameters
    assert all(isinstance(v, strict.StrictArray) for s in opt.state.values()
               for v in s.values() if isinstance(v, np.ndarray))
    assert all(p.device == "cpu" for p in net.cpu().parameters())


def test_checkpoints_hold_host_arrays_and_load_anywhere(tmp_path):
    net = models.ChapterMLP(inputs=4, hidden=3, outputs=2, seed=0).to("strict")
    state = net.state_dict()
    assert all(type(v) is np.ndarray for v in state.values())
    save_checkpoint(tmp_path / "c.npz", {"w": net.W1, "raw": net.W2._data}, {"step": 1})
    arrays, meta = load_checkpoint(tmp_path / "c.npz")
    assert type(arrays["w"]) is np.ndarray and meta == {"step": 1}
    np.testing.assert_array_equal(arrays["raw"], net.W2.numpy())
    there, _ = load_checkpoint(tmp_path / "c.npz", map_location="strict")
    assert isinstance(there["w"], strict.StrictArray)
    cpu = models.ChapterMLP(inputs=4, hidden=3, outputs=2, seed=1)
    cpu.load_state_dict(state)                      # saved on a device, loaded on the CPU
    np.testing.assert_array_equal(cpu.W1.numpy(), net.W1.numpy())
    net.load_state_dict(cpu.state_dict())           # and back, onto the device
    assert _on_strict(net.W1)


def test_memory_is_measured_on_the_model_device():
    # arrays big enough that the strict module's own few kilobytes of Python objects (its
    # wrappers, counted by tracemalloc too) are noise: 6 KB of 1.6 MB
    net = models.ChapterMLP(inputs=784, hidden=128, outputs=10, seed=0)
    on_cpu = measure(net, 128)
    net.to("strict")
    on_strict = measure(net, 128)
    assert _on_strict(net.W1)
    for key in ("training_bytes", "prediction_bytes"):
        assert abs(on_strict[key] - on_cpu[key]) < 0.02 * on_cpu[key], (key, on_strict, on_cpu)


def test_the_chapter_step_and_its_replay_run_on_the_device():
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((6, 5)).astype(np.float32), device="strict")
    y = cr.tensor(np.array([0, 2, 1, 0, 1, 2]), device="strict")
    eager = models.ChapterMLP(inputs=5, hidden=4, outputs=3, seed=0, weight_decay=0.01)
    twin = models.ChapterMLP(inputs=5, hidden=4, outputs=3, seed=0, weight_decay=0.01)
    eager.to("strict"), twin.to("strict")
    opt = cr.optim.SGD(eager.parameters(), lr=0.1, momentum=0.9)
    params = twin.parameters()
    step = cr.compile(lambda x, y: (twin.objective(x, y), *cr.grad(twin.objective(x, y),
                                                                    params)))
    for _ in range(3):
        J = eager.objective(x, y)
        opt.zero_grad()
        J.backward()
        opt.step()
        Jr, *grads = step(x, y)
        with cr.no_grad():
            for p, g in zip(params, grads):
                p -= 0.1 * g
        assert _on_strict(J) and _on_strict(Jr) and all(_on_strict(g) for g in grads)
    assert len(step.plans) == 1 and float(J) < 1.2


def test_train_refuses_a_device_it_cannot_use():
    run = subprocess.run([sys.executable, "-m", "chainrule", "train", "--device", "tpu",
                          "--epochs", "1"], capture_output=True, text=True)
    assert run.returncode == 2 and "--device tpu" in run.stderr and "unknown" in run.stderr
    if NO_GPU:
        run = subprocess.run([sys.executable, "-m", "chainrule", "train", "--device", "cuda",
                              "--epochs", "1"], capture_output=True, text=True)
        assert run.returncode == 2 and "chainrule[cuda]" in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1 + run.stderr.count("usage:") * 1
