"""``nonzero`` and one-argument ``where``, against PyTorch's (int64 indices, no gradient)."""

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

CASES = {
    "matrix": np.array([[0.0, 2.0], [3.0, 0.0]]),
    "bools": np.array([True, False, True]),
    "empty": np.zeros((0, 3)),
    "none-true": np.zeros((2, 2)),
    "scalar": np.array(5.0),
    "scalar-zero": np.array(0.0),
    "ints-3d": np.arange(24).reshape(2, 3, 4) % 5,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_nonzero_and_where_match_pytorch(name):
    v = CASES[name]
    ours, theirs = cr.nonzero(cr.tensor(v)), torch.nonzero(torch.tensor(v))
    assert ours.shape == tuple(theirs.shape) and ours.dtype == np.int64
    assert ours.tolist() == theirs.tolist()
    ours_t = cr.where(cr.tensor(v) != 0)
    theirs_t = torch.where(torch.tensor(v) != 0)
    assert len(ours_t) == len(theirs_t)
    for a, b in zip(ours_t, theirs_t):
        assert a.dtype == np.int64 and a.tolist() == b.tolist()
    assert [t.tolist() for t in cr.nonzero(cr.tensor(v), as_tuple=True)] == \
        [t.tolist() for t in torch.nonzero(torch.tensor(v), as_tuple=True)]


def test_indices_take_no_gradient_and_index_back():
    x = cr.tensor([[1.0, -2.0], [-3.0, 4.0]], requires_grad=True)
    rows, cols = cr.where(x > 0)
    assert not rows.requires_grad
    picked = x[rows, cols]
    picked.sum().backward()
    assert x.grad.tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_where_refuses_half_the_arguments_and_text():
    with pytest.raises(TypeError, match="both a and b, or neither"):
        cr.where(cr.tensor([True]), 1.0)
    with pytest.raises(cr.DTypeError, match="nonzero: x.dtype"):
        cr.nonzero(np.array(["a", "b"]))
