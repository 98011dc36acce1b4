"""The book's PyTorch cells (Dive into Deep Learning, chapters 2.5, 3.2-3.3, 4.2-4.3, 4.4-4.5
(d2l 0.17: linear and softmax regression, MLPs, weight decay, dropout), written once.

Each cell takes the modules a learner imports -- ``torch``, ``nn`` (``torch.nn``), ``F``
(``torch.nn.functional``) and ``data`` (``torch.utils.data``) -- as arguments, so the same code
runs on PyTorch and, with ``import chainrule as torch`` and friends, on chainrule.  The book's
code is kept as written; the only additions are marked ``# test:``: the data comes in as NumPy
arrays (the book draws or downloads it), the starting parameters are set to shared values after
the book's own initialisation ran, and the numbers the book prints are returned.
"""

from __future__ import annotations

import random



def _np(t):
    return t.detach().numpy().copy()


# ---------------------------------------------------------------- 2.5 automatic differentiation
def autograd(torch, nn, F, data, values):
    out = {}
    x = torch.arange(4.0)
    x.requires_grad_(True)  # Same as `x = torch.arange(4.0, requires_grad=True)`
    out["grad_before"] = x.grad is None
    y = 2 * torch.dot(x, x)
    y.backward()
    out["grad"] = _np(x.grad)
    out["check"] = bool((x.grad == 4 * x).all())
    # PyTorch accumulates the gradient in default, we need to clear the previous values
    x.grad.zero_()
    y = x.sum()
    y.backward()
    out["grad_sum"] = _np(x.grad)
    # Invoking `backward` on a non-scalar requires passing in a `gradient` argument
    x.grad.zero_()
    y = x * x
    y.backward(gradient=torch.ones(len(y)))  # Faster: y.sum().backward()
    out["grad_nonscalar"] = _np(x.grad)
    x.grad.zero_()
    y = x * x
    u = y.detach()
    z = u * x
    z.sum().backward()
    out["detach"] = bool((x.grad == u).all())
    x.grad.zero_()
    y.sum().backward()
    out["detach_y"] = bool((x.grad == 2 * x).all())

    def f(a):
        b = a * 2
        while b.norm() < 1000:
            b = b * 2
        if b.sum() > 0:
            c = b
        else:
            c = 100 * b
        return c

    a = torch.randn(size=(), requires_grad=True)
    with torch.no_grad():  # test: the same a on both sides
        a.copy_(torch.tensor(values["a"]))
    d = f(a)
    d.backward()
    out["control_flow"] = bool(a.grad == d / a)
    out["a_grad"] = float(a.grad)
    return out


# ---------------------------------------------------------------- 3.2 linear regression, scratch
def synthetic_data(torch, w, b, num_examples):
    """Generate y = Xw + b + noise."""
    X = torch.normal(0, 1, (num_examples, len(w)))
    y = torch.matmul(X, w) + b
    y += torch.normal(0, 0.01, y.shape)
    return X, y.reshape((-1, 1))


def linreg_scratch(torch, nn, F, data, values):
    true_w = torch.tensor([2, -3.4])
    true_b = 4.2
    features, labels = synthetic_data(torch, true_w, true_b, 1000)
    assert features.shape == (1000, 2) and labels.shape == (1000, 1)
    features = torch.tensor(values["features"])  # test: shared data
    labels = torch.tensor(values["labels"])

    def data_iter(batch_size, features, labels):
        num_examples = len(features)
        indices = list(range(num_examples))
        # The examples are read at random, in no particular order
        random.shuffle(indices)
        for i in range(0, num_examples, batch_size):
            batch_indices = torch.tensor(indices[i: min(i + batch_size, num_examples)])
            yield features[batch_indices], labels[batch_indices]

    batch_size = 10
    w = torch.normal(0, 0.01, size=(2, 1), requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    with torch.no_grad():  # test: shared starting parameters
        w.copy_(torch.tensor(values["w"]))

    def linreg(X, w, b):
        """The linear regression model."""
        return torch.matmul(X, w) + b

    def squared_loss(y_hat, y):
        """Squared loss."""
        return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2

    def sgd(params, lr, batch_size):
        """Minibatch stochastic gradient descent."""
        with torch.no_grad():
            for param in params:
                param -= lr * param.grad / batch_size
                param.grad.zero_()

    lr = 0.03
    num_epochs = 3
    net = linreg
    loss = squared_loss
    random.seed(values["seed"])  # test: the same order on both sides
    losses = []
    for epoch in range(num_epochs):  # noqa: B007 (the book's loop)
        for X, y in data_iter(batch_size, features, labels):
            l = loss(net(X, w, b), y)  # Minibatch loss in `X` and `y`  # noqa: E741
            # Compute gradient on `l` with respect to [`w`, `b`]
            l.sum().backward()
            sgd([w, b], lr, batch_size)  # Update parameters using their gradient
        with torch.no_grad():
            train_l = loss(net(features, w, b), labels)
            losses.append(float(train_l.mean()))
    return {"losses": losses, "w": _np(w), "b": _np(b),
            "w_error": _np(true_w - w.reshape(true_w.shape)), "b_error": true_b - float(b)}


# ---------------------------------------------------------------- 3.3 linear regression, concise
def load_array(data, data_arrays, batch_size, is_train=True):
    """Construct a PyTorch data iterator."""
    dataset = data.TensorDataset(*data_arrays)
    return data.DataLoader(dataset, batch_size, shuffle=is_train)


def linreg_concise(torch, nn, F, data, values):
    features = torch.tensor(values["features"])
    labels = torch.tensor(values["labels"])
    batch_size = 10
    data_iter = load_array(data, (features, labels), batch_size, values["shuffle"])
    next(iter(data_iter))
    net = nn.Sequential(nn.Linear(2, 1))
    net[0].weight.data.normal_(0, 0.01)
    net[0].bias.data.fill_(0)
    with torch.no_grad():  # test: shared starting parameters
        net[0].weight.copy_(torch.tensor(values["w"].T))
    loss = nn.MSELoss()
    trainer = torch.optim.SGD(net.parameters(), lr=0.03)
    num_epochs = 3
    losses = []
    for epoch in range(num_epochs):  # noqa: B007 (the book's loop)
        for X, y in data_iter:
            l = loss(net(X), y)  # noqa: E741
            trainer.zero_grad()
            l.backward()
            trainer.step()
        l = loss(net(features), labels)  # noqa: E741
        losses.append(float(l))
    return {"losses": losses, "w": _np(net[0].weight),
            "b": _np(net[0].bias)}


# ---------------------------------------------------------------- 3.6 softmax regression, scratch
class Accumulator:
    """For accumulating sums over `n` variables."""

    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def reset(self):
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return self.data[idx]


def accuracy(y_hat, y):
    """Compute the number of correct predictions."""
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(axis=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())


def evaluate_accuracy(torch, net, data_iter):
    """Compute the accuracy for a model on a dataset."""
    if isinstance(net, torch.nn.Module):
        net.eval()  # Set the model to evaluation mode
    metric = Accumulator(2)  # No. of correct predictions, no. of predictions
    with torch.no_grad():
        for X, y in data_iter:
            metric.add(accuracy(net(X), y), y.numel())
    return metric[0] / metric[1]


def train_epoch_ch3(torch, net, train_iter, loss, updater):
    """The training loop defined in Chapter 3."""
    # Set the model to training mode
    if isinstance(net, torch.nn.Module):
        net.train()
    # Sum of training loss, sum of training accuracy, no. of examples
    metric = Accumulator(3)
    for X, y in train_iter:
        # Compute gradients and update parameters
        y_hat = net(X)
        l = loss(y_hat, y)  # noqa: E741
        if isinstance(updater, torch.optim.Optimizer):
            # Using PyTorch in-built optimizer & loss criterion
            updater.zero_grad()
            l.mean().backward()
            updater.step()
        else:
            # Using custom built optimizer & loss criterion
            l.sum().backward()
            updater(X.shape[0])
        metric.add(float(l.sum()), accuracy(y_hat, y), y.numel())
    # Return training loss and training accuracy
    return metric[0] / metric[2], metric[1] / metric[2]


def train_ch3(torch, net, train_iter, test_iter, loss, num_epochs, updater):
    """Train a model (defined in Chapter 3); returns what the book's animator plots."""
    history = []
    for epoch in range(num_epochs):  # noqa: B007 (the book's loop)
        train_metrics = train_epoch_ch3(torch, net, train_iter, loss, updater)
        test_acc = evaluate_accuracy(torch, net, test_iter)
        history.append((*train_metrics, test_acc))
    return history


def sgd(torch, params, lr, batch_size):
    """Minibatch stochastic gradient descent."""
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()


def _digits(torch, data, values, batch_size):
    x_train, y_train, x_test, y_test = values["digits"]
    train_iter = load_array(data, (torch.tensor(x_train), torch.tensor(y_train)), batch_size,
                            values["shuffle"])
    test_iter = load_array(data, (torch.tensor(x_test), torch.tensor(y_test)), batch_size,
                           False)
    return train_iter, test_iter


def softmax_scratch(torch, nn, F, data, values):
    batch_size = 64
    train_iter, test_iter = _digits(torch, data, values, batch_size)
    num_inputs = 64
    num_outputs = 10
    W = torch.normal(0, 0.01, size=(num_inputs, num_outputs), requires_grad=True)
    b = torch.zeros(num_outputs, requires_grad=True)
    with torch.no_grad():  # test: shared starting parameters
        W.copy_(torch.tensor(values["W"]))

    def softmax(X):
        X_exp = torch.exp(X)
        partition = X_exp.sum(1, keepdim=True)
        return X_exp / partition  # The broadcasting mechanism is applied here

    def net(X):
        return softmax(torch.matmul(X.reshape((-1, W.shape[0])), W) + b)

    def cross_entropy(y_hat, y):
        return - torch.log(y_hat[range(len(y_hat)), y])

    lr = 0.1

    def updater(batch_size):
        return sgd(torch, [W, b], lr, batch_size)

    num_epochs = 10
    history = train_ch3(torch, net, train_iter, test_iter, cross_entropy, num_epochs, updater)
    return {"history": history, "W": _np(W), "b": _np(b)}


def softmax_concise(torch, nn, F, data, values):
    batch_size = 64
    train_iter, test_iter = _digits(torch, data, values, batch_size)
    # PyTorch does not implicitly reshape the inputs. Thus we define the flatten
    # layer to reshape the inputs before the linear layer in our network
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))

    def init_weights(m):
        if type(m) == nn.Linear:  # noqa: E721
            nn.init.normal_(m.weight, std=0.01)

    net.apply(init_weights)
    with torch.no_grad():  # test: shared starting parameters
        net[1].weight.copy_(torch.tensor(values["W"].T))
        net[1].bias.copy_(torch.zeros(10))
    loss = nn.CrossEntropyLoss(reduction='none')
    trainer = torch.optim.SGD(net.parameters(), lr=0.1)
    num_epochs = 10
    history = train_ch3(torch, net, train_iter, test_iter, loss, num_epochs, trainer)
    return {"history": history, "W": _np(net[1].weight), "b": _np(net[1].bias)}
