"""The book's PyTorch cells of chapter 4 (MLPs, weight decay, dropout), written once; the
helpers of chapter 3 they share (``train_ch3``, ``sgd``...) come from ``book_cells.py`` beside
this file.  See ``book_cells.py`` for how a cell is written and run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

_SPEC = importlib.util.spec_from_file_location("book_cells", Path(__file__).with_name(
    "book_cells.py"))
_ch3 = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_ch3)
Accumulator = _ch3.Accumulator
_digits = _ch3._digits
_np = _ch3._np
load_array = _ch3.load_array
sgd = _ch3.sgd
train_ch3 = _ch3.train_ch3


# ---------------------------------------------------------------- 4.2-4.3 multilayer perceptrons
def mlp_scratch(torch, nn, F, data, values):
    batch_size = 64
    train_iter, test_iter = _digits(torch, data, values, batch_size)
    num_inputs, num_outputs, num_hiddens = 64, 10, 32
    W1 = nn.Parameter(torch.randn(num_inputs, num_hiddens, requires_grad=True) * 0.01)
    b1 = nn.Parameter(torch.zeros(num_hiddens, requires_grad=True))
    W2 = nn.Parameter(torch.randn(num_hiddens, num_outputs, requires_grad=True) * 0.01)
    b2 = nn.Parameter(torch.zeros(num_outputs, requires_grad=True))
    params = [W1, b1, W2, b2]
    with torch.no_grad():  # test: shared starting parameters
        W1.copy_(torch.tensor(values["W1"]))
        W2.copy_(torch.tensor(values["W2"]))

    def relu(X):
        a = torch.zeros_like(X)
        return torch.max(X, a)

    def net(X):
        X = X.reshape((-1, num_inputs))
        H = relu(X @ W1 + b1)  # Here '@' stands for matrix multiplication
        return (H @ W2 + b2)

    loss = nn.CrossEntropyLoss(reduction='none')
    num_epochs, lr = 10, 0.5
    updater = torch.optim.SGD(params, lr=lr)
    history = train_ch3(torch, net, train_iter, test_iter, loss, num_epochs, updater)
    return {"history": history, "W1": _np(W1), "W2": _np(W2), "b2": _np(b2)}


def mlp_concise(torch, nn, F, data, values):
    batch_size = 64
    train_iter, test_iter = _digits(torch, data, values, batch_size)
    net = nn.Sequential(nn.Flatten(),
                        nn.Linear(64, 32),
                        nn.ReLU(),
                        nn.Linear(32, 10))

    def init_weights(m):
        if type(m) == nn.Linear:  # noqa: E721
            nn.init.normal_(m.weight, std=0.01)

    net.apply(init_weights)
    with torch.no_grad():  # test: shared starting parameters
        net[1].weight.copy_(torch.tensor(values["W1"].T))
        net[3].weight.copy_(torch.tensor(values["W2"].T))
        net[1].bias.zero_()
        net[3].bias.zero_()
    batch_size, lr, num_epochs = 64, 0.5, 10
    loss = nn.CrossEntropyLoss(reduction='none')
    trainer = torch.optim.SGD(net.parameters(), lr=lr)
    history = train_ch3(torch, net, train_iter, test_iter, loss, num_epochs, trainer)
    return {"history": history, "W1": _np(net[1].weight), "W2": _np(net[3].weight)}


# ---------------------------------------------------------------- 4.5 weight decay
def _wd_data(torch, data, values):
    n_train, batch_size = 20, 5
    train_data = (torch.tensor(values["wd_train_x"]), torch.tensor(values["wd_train_y"]))
    test_data = (torch.tensor(values["wd_test_x"]), torch.tensor(values["wd_test_y"]))
    train_iter = load_array(data, train_data, batch_size, values["shuffle"])
    test_iter = load_array(data, test_data, batch_size, is_train=False)
    assert len(train_data[0]) == n_train
    return train_iter, test_iter, batch_size


def evaluate_loss(torch, net, data_iter, loss):
    """Evaluate the loss of a model on the given dataset."""
    metric = Accumulator(2)  # Sum of losses, no. of examples
    for X, y in data_iter:
        out = net(X)
        y = y.reshape(out.shape)
        l = loss(out, y)  # noqa: E741
        metric.add(l.sum(), l.numel())
    return metric[0] / metric[1]


def weight_decay_scratch(torch, nn, F, data, values, lambd):
    train_iter, test_iter, batch_size = _wd_data(torch, data, values)
    num_inputs = 200

    def init_params():
        w = torch.normal(0, 1, size=(num_inputs, 1), requires_grad=True)
        b = torch.zeros(1, requires_grad=True)
        with torch.no_grad():  # test: shared starting parameters
            w.copy_(torch.tensor(values["wd_w"]))
        return [w, b]

    def l2_penalty(w):
        return torch.sum(w.pow(2)) / 2

    def linreg(X, w, b):
        return torch.matmul(X, w) + b

    def squared_loss(y_hat, y):
        return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2

    w, b = init_params()
    net, loss = lambda X: linreg(X, w, b), squared_loss
    num_epochs, lr = 20, 0.003
    history = []
    for epoch in range(num_epochs):  # noqa: B007 (the book's loop)
        for X, y in train_iter:
            # The L2 norm penalty term has been added, and broadcasting
            # makes `l2_penalty(w)` a vector whose length is `batch_size`
            l = loss(net(X), y) + lambd * l2_penalty(w)  # noqa: E741
            l.sum().backward()
            sgd(torch, [w, b], lr, batch_size)
        if (epoch + 1) % 5 == 0:
            history.append((evaluate_loss(torch, net, train_iter, loss),
                            evaluate_loss(torch, net, test_iter, loss)))
    return {"history": history, "norm": torch.norm(w).item(), "w": _np(w)}


def weight_decay_concise(torch, nn, F, data, values, wd):
    train_iter, test_iter, batch_size = _wd_data(torch, data, values)
    num_inputs = 200
    net = nn.Sequential(nn.Linear(num_inputs, 1))
    for param in net.parameters():
        param.data.normal_()
    with torch.no_grad():  # test: shared starting parameters
        net[0].weight.copy_(torch.tensor(values["wd_w"].T))
        net[0].bias.copy_(torch.tensor(values["wd_b"]))
    loss = nn.MSELoss(reduction='none')
    num_epochs, lr = 20, 0.003
    # The bias parameter has not decayed
    trainer = torch.optim.SGD([
        {"params": net[0].weight, 'weight_decay': wd},
        {"params": net[0].bias}], lr=lr)
    history = []
    for epoch in range(num_epochs):  # noqa: B007 (the book's loop)
        for X, y in train_iter:
            trainer.zero_grad()
            l = loss(net(X), y)  # noqa: E741
            l.mean().backward()
            trainer.step()
        if (epoch + 1) % 5 == 0:
            history.append((evaluate_loss(torch, net, train_iter, loss),
                            evaluate_loss(torch, net, test_iter, loss)))
    return {"history": history, "norm": net[0].weight.norm().item(), "w": _np(net[0].weight)}


# ---------------------------------------------------------------- 4.6 dropout
def dropout_scratch(torch, nn, F, data, values, dropout1, dropout2):
    def dropout_layer(X, dropout):
        assert 0 <= dropout <= 1
        # In this case, all elements are dropped out
        if dropout == 1:
            return torch.zeros_like(X)
        # In this case, all elements are kept
        if dropout == 0:
            return X
        mask = (torch.rand(X.shape) > dropout).float()
        return mask * X / (1.0 - dropout)

    X = torch.arange(16, dtype=torch.float32).reshape((2, 8))
    checks = [_np(dropout_layer(X, 0.)), _np(dropout_layer(X, 1.))]
    half = _np(dropout_layer(X, 0.5))
    checks.append(bool(np.all((half == 0) | (half == 2 * _np(X)))))
    num_inputs, num_outputs, num_hiddens1, num_hiddens2 = 64, 10, 32, 32

    class Net(nn.Module):
        def __init__(self, num_inputs, num_outputs, num_hiddens1, num_hiddens2,
                     is_training=True):
            super(Net, self).__init__()  # noqa: UP008
            self.num_inputs = num_inputs
            self.training = is_training
            self.lin1 = nn.Linear(num_inputs, num_hiddens1)
            self.lin2 = nn.Linear(num_hiddens1, num_hiddens2)
            self.lin3 = nn.Linear(num_hiddens2, num_outputs)
            self.relu = nn.ReLU()

        def forward(self, X):
            H1 = self.relu(self.lin1(X.reshape((-1, self.num_inputs))))
            # Use dropout only when training the model
            if self.training:
                # Add a dropout layer after the first fully connected layer
                H1 = dropout_layer(H1, dropout1)
            H2 = self.relu(self.lin2(H1))
            if self.training:
                # Add a dropout layer after the second fully connected layer
                H2 = dropout_layer(H2, dropout2)
            out = self.lin3(H2)
            return out

    net = Net(num_inputs, num_outputs, num_hiddens1, num_hiddens2)
    _set_mlp3(torch, [net.lin1, net.lin2, net.lin3], values)
    num_epochs, lr, batch_size = 10, 0.5, 64
    loss = nn.CrossEntropyLoss(reduction='none')
    train_iter, test_iter = _digits(torch, data, values, batch_size)
    trainer = torch.optim.SGD(net.parameters(), lr=lr)
    history = train_ch3(torch, net, train_iter, test_iter, loss, num_epochs, trainer)
    return {"checks": checks, "history": history, "W3": _np(net.lin3.weight)}


def dropout_concise(torch, nn, F, data, values, dropout1, dropout2):
    net = nn.Sequential(nn.Flatten(),
                        nn.Linear(64, 32),
                        nn.ReLU(),
                        # Add a dropout layer after the first fully connected layer
                        nn.Dropout(dropout1),
                        nn.Linear(32, 32),
                        nn.ReLU(),
                        # Add a dropout layer after the second fully connected layer
                        nn.Dropout(dropout2),
                        nn.Linear(32, 10))

    def init_weights(m):
        if type(m) == nn.Linear:  # noqa: E721
            nn.init.normal_(m.weight, std=0.01)

    net.apply(init_weights)
    _set_mlp3(torch, [net[1], net[4], net[7]], values)
    num_epochs, lr, batch_size = 10, 0.5, 64
    loss = nn.CrossEntropyLoss(reduction='none')
    train_iter, test_iter = _digits(torch, data, values, batch_size)
    trainer = torch.optim.SGD(net.parameters(), lr=lr)
    history = train_ch3(torch, net, train_iter, test_iter, loss, num_epochs, trainer)
    return {"history": history, "W3": _np(net[7].weight)}


def _set_mlp3(torch, layers, values):
    with torch.no_grad():  # test: shared starting parameters
        for layer, w in zip(layers, values["mlp3"]):
            layer.weight.copy_(torch.tensor(w))
            layer.bias.zero_()
