"""Module and Sequential: registration, traversal, modes, state dicts and their errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ChainruleError, DTypeError, GraphError, ShapeError


class Block(nn.Module):
    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4, generator=seed)
        self.act = nn.ReLU()
        self.scale = nn.parameter(np.ones(4, dtype=np.float32))
        self.constant = cr.tensor(np.ones(4, dtype=np.float32))     # no grad: not a parameter

    def forward(self, x):
        return self.act(self.fc(x)) * self.scale + self.constant


class Net(nn.Module):
    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.block = Block(seed)
        self.layers = nn.Sequential(nn.Linear(4, 5, generator=seed + 1), nn.Tanh(),
                                    nn.Linear(5, 2, generator=seed + 2))

    def forward(self, x):
        return self.layers(self.block(x))


# as in PyTorch: a module's own parameters first, then its children's, pre-order
NAMES = ["block.scale", "block.fc.weight", "block.fc.bias", "layers.0.weight", "layers.0.bias",
         "layers.2.weight", "layers.2.bias"]


def test_named_parameters_are_dotted_and_in_registration_order():
    net = Net()
    assert [name for name, _ in net.named_parameters()] == NAMES
    assert [p.shape for p in net.parameters()] == [(4,), (4, 3), (4,), (5, 4), (5,), (2, 5),
                                                   (2,)]
    assert all(p.requires_grad and p.is_leaf for p in net.parameters())
    assert [name for name, _ in net.named_modules()] == [
        "", "block", "block.fc", "block.act", "layers", "layers.0", "layers.1", "layers.2"]
    assert net.children() == [net.block, net.layers]


def test_parameters_order_is_deterministic_across_instances():
    shapes = [[p.shape for p in Net(seed).parameters()] for seed in range(3)]
    assert shapes[0] == shapes[1] == shapes[2]


def test_a_shared_tensor_or_module_is_listed_once_under_its_first_name():
    net = Net()
    net.tied = net.block.scale                   # same tensor under a second name
    net.again = net.block                        # same module under a second name
    names = [name for name, _ in net.named_parameters()]
    # net's own attribute comes first in the traversal, so the tensor is listed as "tied"
    assert names == ["tied"] + [n for n in NAMES if n != "block.scale"]
    assert len(net.parameters()) == len({id(p) for p in net.parameters()}) == 7
    assert [m for m in net.modules()].count(net.block) == 1


def test_only_leaf_tensors_that_require_grad_are_registered():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.parameter([1.0, 2.0])
            self.derived = self.w * 2                # made by an operator: not a parameter
            self.cache = {"w": self.w}               # a dict: not looked into

    m = M()
    assert [name for name, _ in m.named_parameters()] == ["w"]
    m.w = None                                       # reassigning unregisters
    assert m.parameters() == []
    m.w = nn.parameter([3.0])
    del m.w
    assert m.parameters() == [] and not hasattr(m, "w")


def test_a_frozen_parameter_stays_registered():
    layer = nn.Linear(2, 3, generator=0)
    layer.bias.requires_grad = False
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    assert list(layer.state_dict()) == ["weight", "bias"]


def test_a_list_of_modules_is_refused_with_a_remedy():
    m = nn.Module()
    with pytest.raises(DTypeError, match="Sequential"):
        m.blocks = [nn.Linear(2, 2), nn.ReLU()]
    m.sizes = [1, 2, 3]                              # an ordinary list is fine
    assert m.sizes == [1, 2, 3]


def test_forgetting_super_init_still_registers():
    class Careless(nn.Module):
        def __init__(self):
            self.w = nn.parameter([1.0])

    m = Careless()
    assert m.parameters() == [m.w] and m.training


def test_register_parameter_and_add_module_check_their_arguments():
    m = nn.Module()
    m.register_parameter("w", nn.parameter([1.0]))
    m.add_module("child", nn.ReLU())
    assert [n for n, _ in m.named_parameters()] == ["w"] and m.children() == [m.child]
    with pytest.raises(DTypeError):
        m.register_parameter("c", cr.tensor([1.0]))
    with pytest.raises(DTypeError):
        m.add_module("f", lambda x: x)
    with pytest.raises(ShapeError, match="'.'"):
        m.add_module("a.b", nn.ReLU())


def test_call_runs_forward_and_the_base_has_none():
    net = Net()
    x = np.ones((2, 3), dtype=np.float32)
    assert np.array_equal(net(x).data, net.forward(x).data)
    with pytest.raises(NotImplementedError):
        nn.Module()(x)


def test_zero_grad_sets_every_grad_to_none():
    net = Net()
    net(np.ones((2, 3), dtype=np.float32)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_train_and_eval_propagate_to_every_descendant():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.layers.train(False)
    assert net.training and not net.layers[0].training


def test_state_dict_is_an_ordered_copy():
    net = Net()
    state = net.state_dict()
    assert list(state) == NAMES
    assert all(isinstance(v, np.ndarray) for v in state.values())
    state["block.fc.weight"][...] = 123.0
    assert not np.any(net.block.fc.weight.data == 123.0)


def test_state_dict_round_trip_into_a_fresh_model():
    source, target = Net(seed=0), Net(seed=10)
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    assert not np.array_equal(source(x).data, target(x).data)
    assert target.load_state_dict(source.state_dict()) == ([], [])
    for (name, a), (_, b) in zip(source.named_parameters(), target.named_parameters()):
        assert np.array_equal(a.data, b.data), name
    assert np.array_equal(source(x).data, target(x).data)


def test_load_state_dict_goes_through_copy_so_stale_graphs_are_caught():
    net = Net()
    out = (net.block.scale * net.block.scale).sum()       # mul saves the parameter itself
    net.load_state_dict(Net(seed=3).state_dict())
    with pytest.raises(GraphError, match="changed in place"):
        out.backward()


def test_load_state_dict_lists_every_problem_and_loads_nothing():
    net = Net()
    before = net.state_dict()
    state = Net(seed=5).state_dict()
    del state["block.scale"]                                      # missing
    del state["layers.2.bias"]                                    # missing
    state["layers.9.weight"] = np.zeros(3, np.float32)            # unexpected
    state["block.fc.weight"] = np.zeros((4, 2), np.float32)       # wrong shape
    state["layers.0.bias"] = state["layers.0.bias"].astype(np.float64)   # wrong dtype
    with pytest.raises(ShapeError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    assert "5 problem(s)" in message and "strict=False" in message
    for key in ["block.scale", "layers.2.bias", "layers.9.weight", "block.fc.weight",
                "layers.0.bias"]:
        assert repr(key) in message, key
    assert "(4, 2)" in message and "float64" in message
    assert isinstance(info.value, (ValueError, ChainruleError))
    for name, value in net.state_dict().items():
        assert np.array_equal(value, before[name]), name


def test_load_state_dict_non_strict_skips_missing_and_unexpected_only():
    net, other = Net(), Net(seed=5)
    state = other.state_dict()
    del state["block.scale"]
    state["extra"] = np.zeros(1)
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert missing == ["block.scale"] and unexpected == ["extra"]
    assert np.array_equal(net.layers[0].weight.data, other.layers[0].weight.data)
    state["layers.0.weight"] = np.zeros((1, 1), np.float32)
    with pytest.raises(ShapeError, match="layers.0.weight"):
        net.load_state_dict(state, strict=False)


def test_load_state_dict_accepts_tensors():
    net, other = Net(), Net(seed=5)
    net.load_state_dict(dict(other.named_parameters()))
    assert np.array_equal(net.block.scale.data, other.block.scale.data)


def test_name_parameters_labels_tensors_with_their_dotted_names():
    net = Net().name_parameters()
    assert [p.name for p in net.parameters()] == NAMES


def test_repr_reads_like_pytorch():
    assert repr(Net()) == (
        "Net(\n"
        "  (block): Block(\n"
        "    (fc): Linear(in_features=3, out_features=4, bias=True)\n"
        "    (act): ReLU()\n"
        "  )\n"
        "  (layers): Sequential(\n"
        "    (0): Linear(in_features=4, out_features=5, bias=True)\n"
        "    (1): Tanh()\n"
        "    (2): Linear(in_features=5, out_features=2, bias=False)\n".replace("False", "True")
        + "  )\n"
        ")"
    )
    assert repr(nn.Dropout(0.25)) == "Dropout(p=0.25)"


def test_sequential_indexing_length_iteration_and_append():
    seq = nn.Sequential(nn.Linear(2, 3, generator=0), nn.ReLU())
    assert len(seq) == 2 and isinstance(seq[0], nn.Linear) and isinstance(seq[-1], nn.ReLU)
    assert isinstance(seq[:1], nn.Sequential) and len(seq[:1]) == 1
    seq.append(nn.Linear(3, 1, generator=1))
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    assert seq(np.ones((4, 2), dtype=np.float32)).shape == (4, 1)
    with pytest.raises(DTypeError, match="not a Module"):
        nn.Sequential(nn.ReLU(), np.tanh)
