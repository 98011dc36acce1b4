"""The nn and data pieces the book uses (issue 14 items 4 and 5), against PyTorch where it is
installed: activations and losses with PyTorch's options, nn.Parameter, nn.Flatten,
nn.LazyLinear, Module.apply and .to, chainrule.utils.data."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.testing import gradcheck, gradgradcheck
from chainrule.utils import data

try:
    import torch
    import torch.nn.functional as TF
except ImportError:     # pragma: no cover
    torch = TF = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(6, 4)).astype(np.float32)
LABELS = np.array([0, 3, 1, 2, 2, 1])
PROBS = np.abs(RNG.normal(size=(6, 4))).astype(np.float32)
PROBS /= PROBS.sum(axis=1, keepdims=True)
X = RNG.normal(size=(3, 5)).astype(np.float32) * 3

WEIGHT = np.array([0.5, 2.0, 1.0, 3.0], np.float32)


def _weight(f):
    """The class weights as the library of ``f`` (chainrule or PyTorch) takes them."""
    return cr.tensor(WEIGHT) if f is F else torch.tensor(WEIGHT)


LOSSES = {
    "ce-none": (lambda f, a, y: f.cross_entropy(a, y, reduction="none"), LABELS),
    "ce-sum": (lambda f, a, y: f.cross_entropy(a, y, reduction="sum"), LABELS),
    "ce-smooth": (lambda f, a, y: f.cross_entropy(a, y, label_smoothing=0.1), LABELS),
    "ce-ignore": (lambda f, a, y: f.cross_entropy(a, y, ignore_index=2), LABELS),
    "ce-ignore-smooth-none": (lambda f, a, y: f.cross_entropy(a, y, ignore_index=1,
                                                              label_smoothing=0.3,
                                                              reduction="none"), LABELS),
    "ce-weight": (lambda f, a, y: f.cross_entropy(a, y, weight=_weight(f)), LABELS),
    "ce-weight-ignore-smooth": (lambda f, a, y: f.cross_entropy(
        a, y, weight=_weight(f), ignore_index=3, label_smoothing=0.2), LABELS),
    "ce-weight-probs-sum": (lambda f, a, y: f.cross_entropy(a, y, weight=_weight(f),
                                                           reduction="sum"), PROBS),
    "nll-weight": (lambda f, a, y: f.nll_loss(f.log_softmax(a, dim=1), y, weight=_weight(f)),
                   LABELS),
    "ce-probs": (lambda f, a, y: f.cross_entropy(a, y), PROBS),
    "ce-probs-smooth": (lambda f, a, y: f.cross_entropy(a, y, label_smoothing=0.2), PROBS),
    "nll": (lambda f, a, y: f.nll_loss(f.log_softmax(a, dim=1), y), LABELS),
    "nll-sum": (lambda f, a, y: f.nll_loss(f.log_softmax(a, dim=1), y, reduction="sum"),
                LABELS),
    "mse-none": (lambda f, a, y: f.mse_loss(a, y, reduction="none"), PROBS),
    "mse-sum": (lambda f, a, y: f.mse_loss(a, y, reduction="sum"), PROBS),
    "gelu": (lambda f, a, y: f.gelu(a), None),
    "gelu-tanh": (lambda f, a, y: f.gelu(a, approximate="tanh"), None),
    "silu": (lambda f, a, y: f.silu(a), None),
    "elu": (lambda f, a, y: f.elu(a, alpha=0.7), None),
    "leaky_relu": (lambda f, a, y: f.leaky_relu(a, 0.2), None),
    "softmax-dim": (lambda f, a, y: f.softmax(a, dim=0), None),
}


def _loss_run(lib, name):
    fn, target = LOSSES[name]
    mod, f = (cr, F) if lib == "cr" else (torch, TF)
    a = mod.tensor(LOGITS.copy(), requires_grad=True)
    y = None if target is None else mod.tensor(target)
    out = fn(f, a, y)
    (out * out).sum().backward()
    return out.detach().numpy(), a.grad.numpy()


@needs_torch
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_functional_matches_pytorch(name):
    ours, our_grad = _loss_run("cr", name)
    theirs, their_grad = _loss_run("torch", name)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(our_grad, their_grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["gelu", "gelu-tanh", "silu", "elu", "leaky_relu",
                                  "ce-smooth", "ce-ignore", "ce-probs", "nll",
                                  "ce-weight-ignore-smooth", "nll-weight"])
def test_composites_have_second_derivatives(name):
    fn, target = LOSSES[name]
    x = np.where(np.abs(LOGITS) < 0.1, 0.5, LOGITS).astype(np.float64)   # away from kinks
    y = None if target is None else cr.tensor(target.astype(np.float64)
                                              if target.dtype.kind == "f" else target)

    def f(a):
        return fn(F, a, y)
    assert gradcheck(f, (x,), modes=("rev", "fwd"))
    assert gradgradcheck(f, (x,))


def test_cross_entropy_loss_module_weighs_classes():
    # the module's shortcut to the fused primitive must not drop weight=
    logits, labels = cr.tensor(LOGITS), cr.tensor(LABELS)
    weighed = nn.CrossEntropyLoss(weight=cr.tensor(WEIGHT))(logits, labels).item()
    plain = nn.CrossEntropyLoss()(logits, labels).item()
    assert weighed == pytest.approx(F.cross_entropy(logits, labels, weight=cr.tensor(WEIGHT))
                                    .item())
    assert abs(weighed - plain) > 1e-3
    with pytest.raises(cr.ShapeError, match=r"weight has shape \(3,\).*\(4,\)"):
        F.cross_entropy(logits, labels, weight=cr.tensor(WEIGHT[:3]))


def test_losses_refuse_bad_arguments():
    with pytest.raises(cr.ShapeError, match="reduction='avg'"):
        F.cross_entropy(cr.tensor(LOGITS), cr.tensor(LABELS), reduction="avg")
    with pytest.raises(cr.ShapeError, match="labels lie in"):
        F.cross_entropy(cr.tensor(LOGITS), cr.tensor(LABELS + 3), reduction="none")
    with pytest.raises(cr.ShapeError, match="reduction"):
        nn.MSELoss(reduction="nope")


def test_parameter_is_a_leaf_sharing_memory():
    base = cr.randn(3, 2, requires_grad=True) * 0.01
    w = nn.Parameter(base)
    assert isinstance(w, cr.Tensor) and w.is_leaf and w.requires_grad
    assert np.shares_memory(w.numpy(), base.numpy())

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(cr.zeros(2))
    assert [name for name, _ in Net().named_parameters()] == ["w"]


def test_flatten_and_lazy_linear():
    net = nn.Sequential(nn.Flatten(), nn.LazyLinear(3))
    params = net.parameters()
    opt = cr.optim.SGD(params, lr=0.1)
    out = net(cr.ones(4, 2, 5))
    assert out.shape == (4, 3) and net[1].weight.shape == (3, 10) and net[1].in_features == 10
    assert net[1].weight is params[0]                 # the same tensor the optimizer holds
    before = net[1].weight.numpy().copy()
    out.sum().backward()
    opt.step()
    assert not np.allclose(before, net[1].weight.numpy())


def test_apply_visits_children_first_and_to_converts():
    net = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1)))
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "ReLU", "Linear", "Sequential", "Sequential"]
    if torch is not None:
        tnet = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Sequential(
            torch.nn.ReLU(), torch.nn.Linear(3, 1)))
        theirs = []
        tnet.apply(lambda m: theirs.append(type(m).__name__))
        assert seen == theirs
    w = net[0].weight
    assert net.to(cr.float64) is net and w.dtype == np.float64 and net[0].weight is w
    assert net.to("cpu") is net
    with pytest.raises(cr.DeviceError):
        net.to("cuda")


def test_init_functions_the_book_calls():
    layer = nn.Linear(4, 3)
    nn.init.normal_(layer.weight, std=0.01)
    nn.init.zeros_(layer.bias)
    assert np.abs(layer.weight.numpy()).max() < 0.1 and not layer.bias.numpy().any()
    nn.init.xavier_uniform_(layer.weight)
    assert np.abs(layer.weight.numpy()).max() <= np.sqrt(6 / 7)


def test_tensor_dataset_and_loader():
    X, y = cr.arange(20.0).reshape(10, 2), cr.arange(10)
    dataset = data.TensorDataset(X, y)
    assert len(dataset) == 10 and dataset[3][1].item() == 3
    batches = list(data.DataLoader(dataset, batch_size=4, shuffle=True, num_workers=2,
                                   drop_last=True))
    assert len(batches) == 2 and all(isinstance(b, cr.Tensor) for pair in batches
                                     for b in pair)
    seen = np.concatenate([yb.numpy() for _, yb in batches])
    assert len(set(seen.tolist())) == 8
    for xb, yb in batches:
        assert (xb[:, 0] == 2 * yb).all()
    with pytest.raises(cr.ShapeError, match="same number of examples"):
        data.TensorDataset(cr.ones(3), cr.ones(4))
    with pytest.raises(cr.ShapeError, match="num_workers"):
        data.DataLoader(dataset, batch_size=2, num_workers=-1)
