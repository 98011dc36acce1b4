"""PyTorch's tensor surface (issue 14 items 3 and 4): each expression is written once and run on
chainrule and on torch from the same values; results (and gradients) must agree."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

try:
    import torch
except ImportError:     # pragma: no cover
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

A = np.array([[1.5, -2.25, 0.5], [3.0, 4.5, -0.75]], dtype=np.float32)
B = np.array([[0.5, 1.0, -1.5], [2.0, -3.0, 0.25]], dtype=np.float32)

# name: f(m, a, b) -> a tensor, with a and b float32 tensors that require grad
EXPRESSIONS = {
    "sum-dim-keepdim": lambda m, a, b: a.sum(1, keepdim=True),
    "mean-dim": lambda m, a, b: a.mean(dim=0),
    "max-values": lambda m, a, b: a.max(1)[0],
    "max-indices": lambda m, a, b: a.max(dim=1).indices,
    "max-two": lambda m, a, b: m.max(a, b),
    "min-two": lambda m, a, b: m.min(a, b),
    "argmax": lambda m, a, b: a.argmax(dim=1),
    "argmin-flat": lambda m, a, b: a.argmin(),
    "norm": lambda m, a, b: a.norm(),
    "norm-dim": lambda m, a, b: m.norm(a, dim=1),
    "std": lambda m, a, b: a.std(),
    "var-dim": lambda m, a, b: a.var(dim=1),
    "var-biased": lambda m, a, b: a.var(unbiased=False),
    "prod": lambda m, a, b: a.prod(),
    "prod-dim": lambda m, a, b: a.prod(dim=1),
    "cumsum": lambda m, a, b: a.cumsum(dim=1),
    "cumprod": lambda m, a, b: a.cumprod(dim=0),
    "all": lambda m, a, b: (a > 0).all(),
    "any-dim": lambda m, a, b: (a > 4).any(dim=1),
    "exp-relu-tanh": lambda m, a, b: a.exp().relu() + a.tanh() + a.sigmoid(),
    "log-abs": lambda m, a, b: abs(a).log(),
    "erf": lambda m, a, b: m.erf(a),
    "log2": lambda m, a, b: m.log2(abs(a)),
    "rsqrt": lambda m, a, b: m.rsqrt(abs(a)),
    "clamp": lambda m, a, b: m.clamp(a, min=-1.0, max=2.0),
    "clamp-min": lambda m, a, b: a.clamp(min=0.0),
    "mod": lambda m, a, b: a % 2,
    "mod-tensor": lambda m, a, b: a % b,
    "fmod": lambda m, a, b: m.fmod(a, b),
    "div-floor": lambda m, a, b: m.div(a, b, rounding_mode="floor"),
    "div-trunc": lambda m, a, b: m.div(a, b, rounding_mode="trunc"),
    "copysign": lambda m, a, b: m.copysign(a, b),
    "where": lambda m, a, b: m.where(a > 0, a, b),
    "isclose": lambda m, a, b: m.isclose(a, a + 1e-7),
    "and-or-xor-not": lambda m, a, b: ((a > 0) & (b > 0)) | ((a > 1) ^ ~(b < 0)),
    "float-long": lambda m, a, b: a.long().float() + a.double().float(),
    "type": lambda m, a, b: a.type(m.int64),
    "to-dtype": lambda m, a, b: a.to(m.float64),
    "clone": lambda m, a, b: a.clone() * 2,
    "view-flatten": lambda m, a, b: a.view(3, 2).flatten(),
    "flatten-start": lambda m, a, b: a.reshape(1, 2, 3).flatten(1),
    "squeeze-unsqueeze": lambda m, a, b: a.unsqueeze(0).unsqueeze(-1).squeeze(),
    "squeeze-dim": lambda m, a, b: a.unsqueeze(1).squeeze(1),
    "permute": lambda m, a, b: a.reshape(1, 2, 3).permute(2, 0, 1),
    "transpose-swap": lambda m, a, b: a.reshape(1, 2, 3).transpose(0, 2),
    "t": lambda m, a, b: a.t(),
    "sort": lambda m, a, b: m.sort(a, dim=1).values,
    "sort-desc-indices": lambda m, a, b: m.sort(a, dim=0, descending=True).indices,
    "roll": lambda m, a, b: m.roll(a, 1, dims=1),
    "roll-flat": lambda m, a, b: m.roll(a, -2),
    "tril": lambda m, a, b: m.tril(a),
    "triu-1": lambda m, a, b: m.triu(a, 1),
    "flip": lambda m, a, b: m.flip(a, [0, 1]),
    "cat": lambda m, a, b: m.cat([a, b], dim=1),
    "dot": lambda m, a, b: m.dot(a[0], b[0]),
    "expand": lambda m, a, b: a[:, :1].expand(2, 4),
    "repeat": lambda m, a, b: a.repeat(2, 1),
    "sum-0d": lambda m, a, b: a.sum().sum(0),
    "mean-0d-last": lambda m, a, b: a.sum().mean(-1),
    "softmax": lambda m, a, b: a.softmax(1),
}


def _run(module, name):
    a = module.tensor(A.copy(), requires_grad=True)
    b = module.tensor(B.copy(), requires_grad=True)
    out = EXPRESSIONS[name](module, a, b)
    grads = None
    if out.dtype in (module.float32, module.float64) and out.requires_grad:
        (out * out).sum().backward()
        grads = [None if t.grad is None else t.grad.numpy() for t in (a, b)]
    return out.detach().numpy(), grads


@needs_torch
@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_method_matches_pytorch(name):
    ours, our_grads = _run(cr, name)
    theirs, their_grads = _run(torch, name)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert (our_grads is None) == (their_grads is None)
    for g, h in zip(our_grads or [], their_grads or []):
        if g is None or h is None:          # no gradient on one side: zeros on the other
            assert not np.any(g if h is None else h)
        else:
            np.testing.assert_allclose(g, h, rtol=1e-5, atol=1e-6)


def test_data_is_the_array_with_pytorchs_in_place_idioms():
    w = cr.zeros(3, 2, requires_grad=True)
    assert isinstance(w.data, np.ndarray)
    cr.random.seed(0)
    w.data.normal_(0, 0.01)
    assert 0 < np.abs(w.numpy()).max() < 0.1 and w.version == 1
    w.data.fill_(2.0)
    assert w.numpy().tolist() == [[2.0, 2.0]] * 3
    w.data.zero_()
    assert not w.numpy().any()
    assert type(w.data * 2) is np.ndarray          # arithmetic gives plain arrays


def test_changing_data_a_node_saved_is_caught_in_backward():
    w = cr.ones(3, requires_grad=True)
    y = (w * w).sum()
    w.data.fill_(3.0)
    with pytest.raises(cr.GraphError):
        y.backward()


def test_in_place_fills_and_requires_grad_():
    x = cr.zeros(4)
    assert x.fill_(1.5).tolist() == [1.5] * 4
    cr.random.seed(1)
    assert x.uniform_(2, 3).numpy().min() >= 2
    assert x.normal_().requires_grad_().requires_grad
    assert x.numel() == 4 and x.dim() == 1


def test_devices():
    x = cr.tensor([1.0])
    assert x.device == cr.device("cpu") == "cpu" and x.to("cpu") is x and x.cpu() is x
    if cr.cuda.is_available():
        return                          # tests/core/test_devices.py covers the GPU
    with pytest.raises(cr.DeviceError, match=r"pip install 'chainrule\[cuda\]'"):
        cr.device("cuda")
    with pytest.raises(cr.DeviceError):
        x.to("cuda:0")


def test_type_names_and_backward_gradient():
    assert cr.tensor([1.0]).type() == "torch.FloatTensor"
    assert cr.tensor([1]).type() == "torch.LongTensor"
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * x).backward(gradient=cr.tensor([1.0, 10.0]))
    assert x.grad.tolist() == [2.0, 40.0]


def test_bad_calls_are_typed_errors():
    x = cr.ones(2, 3)
    with pytest.raises(cr.ShapeError, match="argmax: axis 5"):
        x.argmax(dim=5)
    with pytest.raises(cr.ShapeError, match="cumsum: pass dim="):
        cr.cumsum(x)
    with pytest.raises(cr.DTypeError, match="float32"):
        x & x
    with pytest.raises(cr.DTypeError, match="rounding_mode"):
        cr.div(x, 2, rounding_mode="up")
    with pytest.raises(cr.ShapeError, match="norm: p="):
        x.norm(p="nuc")


@needs_torch
@pytest.mark.parametrize("name", ["sum", "mean", "max", "argmax", "softmax", "log_softmax",
                                  "cumsum", "prod", "logsumexp", "squeeze", "unsqueeze"])
@pytest.mark.parametrize("dim", [0, -1])
def test_a_0d_tensor_takes_dim_0_and_minus_1(name, dim):
    results = []
    for m in (cr, torch):
        s = m.tensor(2.0, requires_grad=True)
        out = getattr(s, name)(dim)
        out = out[0] if isinstance(out, tuple) else out
        results.append((tuple(out.shape), float(out.detach())))
    assert results[0] == results[1]


def test_x_data_does_not_keep_the_tensor_or_its_graph_alive():
    import gc
    import weakref

    w = cr.tensor(np.ones((20, 20)), requires_grad=True)
    J = (cr.tanh(w @ w) ** 2).sum()
    kept = J.data                       # as `losses.append(J.data)` does
    ref = weakref.ref(J)
    del J
    gc.collect()
    assert ref() is None and float(kept) > 0
    b = cr.tensor(np.zeros(3))
    b.data.fill_(1.0)                   # the in-place idioms still reach the tensor
    assert b.numpy().tolist() == [1.0, 1.0, 1.0] and b.version == 1
