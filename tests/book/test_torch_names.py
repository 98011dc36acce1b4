"""PyTorch names a learner types beyond the book's cells: each gives PyTorch's result, or a
typed error naming the function (never a bare NumPy traceback, never a silent difference)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional

A = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
B = np.arange(12, dtype=np.float32).reshape(3, 4) / 7


def _same(ours, theirs):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    ours = ours.numpy() if isinstance(ours, cr.Tensor) else np.asarray(ours)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_functions():
    _same(cr.mm(cr.tensor(A), cr.tensor(B)), torch.mm(torch.tensor(A), torch.tensor(B)))
    assert cr.numel(cr.tensor(A)) == torch.numel(torch.tensor(A)) == 6
    assert cr.is_tensor(cr.tensor(A)) and not cr.is_tensor(A)
    _same(cr.stack([cr.tensor(A), cr.tensor(A)], dim=1),
          torch.stack([torch.tensor(A), torch.tensor(A)], dim=1))
    with pytest.raises(cr.ShapeError, match=r"mm: a.shape=\(6,\)"):
        cr.mm(cr.tensor(A.ravel()), cr.tensor(B))


def test_softmax_modules_and_one_hot():
    for dim in (0, 1, -1):
        _same(nn.Softmax(dim=dim)(cr.tensor(A)), torch.nn.Softmax(dim=dim)(torch.tensor(A)))
        _same(nn.LogSoftmax(dim=dim)(cr.tensor(A)),
              torch.nn.LogSoftmax(dim=dim)(torch.tensor(A)))
    labels = np.array([[0, 2], [1, 1]])
    _same(F.one_hot(cr.tensor(labels)), TF.one_hot(torch.tensor(labels)))
    _same(F.one_hot(cr.tensor(labels), 5), TF.one_hot(torch.tensor(labels), 5))
    with pytest.raises(cr.ShapeError, match="one_hot: indices lie in"):
        F.one_hot(cr.tensor(labels), 2)
    with pytest.raises(cr.ShapeError, match="one_hot: the indices have dtype float"):
        F.one_hot(cr.tensor(A))


def test_softmax_module_gradient_flows():
    x = cr.tensor(A, requires_grad=True)
    t = torch.tensor(A, requires_grad=True)
    (nn.LogSoftmax(1)(x) * cr.tensor(B[:2, :3])).sum().backward()
    (torch.nn.LogSoftmax(1)(t) * torch.tensor(B[:2, :3])).sum().backward()
    _same(x.grad, t.grad)


def test_tensor_methods():
    x, t = cr.tensor(A), torch.tensor(A)
    assert x.size == 6 and x.size() == tuple(t.size()) and x.size(-1) == t.size(-1)
    assert x.ndimension() == t.ndimension() == 2
    _same(x.mT, t.mT)
    _same(cr.ones(1, 3).expand_as(x), torch.ones(1, 3).expand_as(t))
    mask = A > 0
    _same(x.masked_fill(cr.tensor(mask), -1.5), t.masked_fill(torch.tensor(mask), -1.5))
    for name in ("eq", "ne", "lt", "le", "gt", "ge"):
        _same(getattr(x, name)(cr.tensor(A.T.ravel().reshape(2, 3))),
              getattr(t, name)(torch.tensor(A.T.ravel().reshape(2, 3))))
    _same(x.new_zeros(2, 4), t.new_zeros(2, 4))
    _same(x.new_ones((3,)), t.new_ones((3,)))
    _same(x.new_full((2,), 7.0), t.new_full((2,), 7.0))
    with pytest.raises(cr.ShapeError, match="size: dim=2"):
        x.size(2)


def test_masked_fill_passes_the_gradient_where_not_filled():
    x = cr.tensor(A, requires_grad=True)
    t = torch.tensor(A, requires_grad=True)
    mask = A > 0
    (x.masked_fill(cr.tensor(mask), 0.0) * 2).sum().backward()
    (t.masked_fill(torch.tensor(mask), 0.0) * 2).sum().backward()
    _same(x.grad, t.grad)


@pytest.mark.parametrize("owner", ["optimizer", "module"])
def test_zero_grad_set_to_none_false_keeps_zeroed_gradients(owner):
    net, tnet = nn.Linear(3, 2), torch.nn.Linear(3, 2)
    with cr.no_grad():
        net.weight.copy_(tnet.weight.detach().numpy())
        net.bias.copy_(tnet.bias.detach().numpy())
    opt, topt = cr.optim.SGD(net.parameters(), lr=0.1), torch.optim.SGD(tnet.parameters(), lr=0.1)
    zero = (opt if owner == "optimizer" else net).zero_grad
    tzero = (topt if owner == "optimizer" else tnet).zero_grad
    for _ in range(2):
        net(cr.tensor(B[:, :3])).sum().backward()
        tnet(torch.tensor(B[:, :3])).sum().backward()
        zero(set_to_none=False)
        tzero(set_to_none=False)
        _same(net.weight.grad, tnet.weight.grad)
    net(cr.tensor(B[:, :3])).sum().backward()
    tnet(torch.tensor(B[:, :3])).sum().backward()
    _same(net.weight.grad, tnet.weight.grad)
    zero()
    assert net.weight.grad is None
