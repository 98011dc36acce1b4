"""LeNet: it learns the embedded digits (enlarged and padded to 28x28), matches PyTorch's LeNet
with the same weights, and ``chainrule train --model lenet`` checkpoints and resumes bit for
bit, compiled or not."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import load_dataset
from chainrule.models import LeNet
from chainrule.optim import SGD
from chainrule.storage import load_checkpoint
from chainrule.train import Config, train
from chainrule.train.config import CHECKPOINT, build_network

FAST = dict(dataset="digits", batch_size=256, progress=False, log=False)


def test_lenet_relu_learns_the_digits():
    x, y, x_test, y_test = load_dataset("digits")
    net = LeNet(64, 10, "relu", seed=0)
    optimizer = SGD(net.parameters(), lr=0.05, momentum=0.9)
    order = np.random.default_rng(0)
    for _ in range(3):
        perm = order.permutation(len(x))
        for start in range(0, len(x), 32):
            batch = perm[start:start + 32]
            optimizer.zero_grad()
            net.objective(cr.tensor(x[batch]), y[batch]).backward()
            optimizer.step()
    net.eval()
    with cr.no_grad():
        accuracy = (net(x_test).numpy().argmax(axis=1) == y_test).mean()
    assert accuracy > 0.85, accuracy


def test_the_digits_are_enlarged_and_padded_to_28_by_28():
    net = LeNet(64, 10, seed=0)
    image = np.arange(64, dtype=np.float32).reshape(8, 8)
    big = net._image(cr.tensor(image.reshape(1, 64))).numpy()[0, 0]
    assert big.shape == (28, 28)
    np.testing.assert_array_equal(big[2:26, 2:26], np.kron(image, np.ones((3, 3))))
    assert not big[:2].any() and not big[26:].any() and not big[:, :2].any()


@pytest.mark.parametrize("variant", ["book", "relu"])
def test_lenet_matches_torch_with_the_same_weights(variant):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    act = torch.nn.Sigmoid if variant == "book" else torch.nn.ReLU
    pool = torch.nn.AvgPool2d if variant == "book" else torch.nn.MaxPool2d
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 5, padding=2), act(), pool(2), torch.nn.Conv2d(6, 16, 5), act(),
        pool(2), torch.nn.Flatten(), torch.nn.Linear(400, 120), act(), torch.nn.Linear(120, 84),
        act(), torch.nn.Linear(84, 10))
    ours = LeNet(784, 10, variant, seed=0)
    names = [n for n, _ in ours.named_parameters()]
    ours.load_state_dict({n: p.detach().numpy() for n, (_, p)
                          in zip(names, theirs.named_parameters())})
    x = np.random.default_rng(0).random((4, 784), dtype=np.float32)
    y = np.array([0, 3, 9, 3])
    loss = ours.objective(x, y)
    loss.backward()
    ref = torch.nn.functional.cross_entropy(theirs(torch.tensor(x).reshape(4, 1, 28, 28)),
                                            torch.tensor(y))
    ref.backward()
    assert abs(loss.item() - ref.item()) < 1e-5
    for p, (_, q) in zip(ours.parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-3, atol=1e-5)


def test_build_network_makes_both_lenets():
    assert build_network(model="lenet", inputs=64).activation == "sigmoid"
    assert build_network(model="lenet-relu").activation == "relu"
    with pytest.raises(cr.ShapeError, match="lenet-relu"):
        build_network(model="vgg")
    with pytest.raises(cr.ShapeError, match="square"):
        LeNet(inputs=60)


def test_train_lenet_checkpoints_and_resumes_bit_for_bit(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    metrics = train(Config(epochs=2, out=str(straight), model="lenet", lr=None, **FAST))
    assert metrics["config"]["lr"] == 0.9                   # the book's, when not given
    train(Config(epochs=1, out=str(split), model="lenet", lr=None, **FAST))
    train(Config(epochs=2, out=str(split), model="lenet", resume=True, lr=None, **FAST))
    a, meta_a = load_checkpoint(straight / CHECKPOINT)
    b, meta_b = load_checkpoint(split / CHECKPOINT)
    assert "model.features.0.weight" in a and a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    assert [e["test_accuracy"] for e in meta_a["history"]] == [
        e["test_accuracy"] for e in meta_b["history"]]


def test_compiled_lenet_steps_equal_eager_steps(tmp_path):
    eager = train(Config(epochs=1, out=str(tmp_path / "e"), model="lenet-relu", **FAST))
    compiled = train(Config(epochs=1, out=str(tmp_path / "c"), model="lenet-relu",
                            compile=True, **FAST))
    a, _ = load_checkpoint(tmp_path / "e" / CHECKPOINT)
    b, _ = load_checkpoint(tmp_path / "c" / CHECKPOINT)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    assert eager["test_accuracy"] == compiled["test_accuracy"]


@pytest.mark.parametrize("variant, batch", [("book", 1), ("book", 256), ("relu", 256),
                                            ("book", 1024)])
def test_memory_prediction_for_lenet_is_within_10_percent_of_tracemalloc(variant, batch):
    from chainrule.memory.measure import measure
    from chainrule.memory.report import predict

    model = LeNet(784, 10, variant, seed=0)
    predicted, measured = predict(model, batch), measure(model, batch)
    for key, value in (("training_bytes", predicted.training_bytes),
                       ("prediction_bytes", predicted.prediction_bytes)):
        assert abs(value / measured[key] - 1) < 0.10, (key, value, measured[key])


def test_explain_writes_lenets_gradients_as_correlations_and_transposed_convolutions():
    from chainrule.viz.derivation import explain

    model = LeNet(784, 10, "relu", seed=0)
    x = cr.tensor(np.random.default_rng(0).random((2, 784), dtype=np.float32), name="x")
    text = str(explain(model.objective(x, np.array([1, 2]))))
    assert "c1 = conv(image, features.0.weight) + features.0.bias   (2, 6, 28, 28)" in text
    assert "= corr(p1, dL/dc2)" in text and "(16, 6, 5, 5)" in text
    assert "= conv^T(dL/dc2, features.3.weight)" in text
    assert "maxpool^T(dL/dp2)" in text


def test_lenet_data_parallel_on_two_ranks_matches_one_process(tmp_path):
    import os
    import subprocess
    from pathlib import Path

    from chainrule.distributed import mpi_missing, mpiexec_command, mpiexec_path

    missing = mpi_missing() or (None if mpiexec_path() else "no mpiexec")
    if missing:
        pytest.skip(f"MPI is not available: {missing}")
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    flags = ["-m", "chainrule", "train", "--model", "lenet-relu", "--dataset", "digits",
             "--batch-size", "256", "--epochs", "1", "--no-progress"]
    for ranks in (1, 2):
        run = subprocess.run(mpiexec_command(ranks, *flags, "--out", str(tmp_path / str(ranks))),
                             capture_output=True, text=True, env=env, timeout=300)
        assert run.returncode == 0, run.stderr
    a, _ = load_checkpoint(tmp_path / "1" / CHECKPOINT)
    b, meta = load_checkpoint(tmp_path / "2" / CHECKPOINT)
    assert meta["step"] == 6 and "model.features.0.weight" in b
    for key in a:              # float32: the same steps, summed in another order
        np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_cli_lenet_relu_takes_its_own_batch_and_learning_rate(tmp_path):
    import json

    from chainrule.cli import main

    status = main(["train", "--model", "lenet-relu", "--dataset", "digits", "--epochs", "1",
                   "--no-progress", "--out", str(tmp_path)])
    assert status == 0
    config = json.loads((tmp_path / "metrics.json").read_text())["config"]
    assert (config["model"], config["batch_size"], config["lr"]) == ("lenet-relu", 64, 0.1)
