"""The backward pass as the chapter writes it, generated from a recorded graph.

:func:`explain` walks the graph that computed a tensor (it runs nothing) and writes, for every
named variable, the equation backpropagation uses for its gradient, in the order the backward
pass completes them, with its shape::

    dJ/dW2 = prod(dJ/do, do/dW2) + prod(dJ/ds, ds/dW2) = dJ/do h^T + lambda W2   (10, 256)

Unnamed intermediates are collapsed as in the drawing (:mod:`chainrule.viz.view`), so each line
goes from one named tensor to the next.  The right-hand sides come from each operator's rule in
:mod:`chainrule.viz.rules`: a matrix product gives ``W2^T dJ/do`` and ``dJ/do h^T``, an
activation ``dJ/dh (.) phi'(z)``, a sum passes the gradient on, and a scaled sum of squared
Frobenius norms (the chapter's ``s``) gives ``lambda W``.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from ..core.tensor import Tensor
from .rules import Context, Number, const_value, forward_expr, vjp_expr
from .symbolic import ONE, Atom, add, call, grad_atom, latex_name
from .view import GraphView, Region, Var

__all__ = ["explain", "Derivation", "WORDS"]

WORDS = {
    "en": {
        "forward": "Forward propagation: each intermediate variable is computed and stored",
        "backward": "Backpropagation: the chain rule, in the order the gradients are computed",
        "where": "where", "cross-entropy": "cross-entropy", "n": "the batch size",
        "opaque": "operators, too many to write out",
    },
    "pt": {
        "forward": "Propagação direta: cada variável intermediária é calculada e armazenada",
        "backward": "Propagação reversa (backpropagation): a regra da cadeia, na ordem em "
                    "que os gradientes são calculados",
        "where": "onde", "cross-entropy": "entropia cruzada", "n": "o tamanho do minibatch",
        "opaque": "operadores, demais para escrever",
    },
    "fr": {
        "forward": "Propagation vers l'avant : calcul et stockage de chaque variable "
                   "intermédiaire",
        "backward": "Rétropropagation : la règle de la chaîne, dans l'ordre où les gradients "
                    "sont calculés",
        "where": "où", "cross-entropy": "entropie croisée", "n": "la taille du lot",
        "opaque": "opérateurs, trop nombreux pour être écrits",
    },
}
_LEGEND_LATEX = {"phi": r"\phi", "lambda": r"\lambda", "l": "l", "n": "n"}
MAX_REGION = 48        # a collapsed region larger than this is written as f(inputs)


def explain(tensor: Tensor, lang: str = "en", format: str = "text", *,  # noqa: A002
            names: Mapping[str, Tensor] | Iterable[Tensor] | None = None) -> str:
    """The forward and backward equations of the graph that computed ``tensor``.

    ``lang`` is ``"en"``, ``"pt"`` or ``"fr"`` (the chapter's translations); ``format`` is
    ``"text"`` or ``"latex"``.  ``names`` names tensors the graph holds only as anonymous
    copies or views (a 1-D ``x`` in ``W1 @ x`` is kept as its reshaped column).

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, 2.0], requires_grad=True, name="w")
    >>> x = cr.tensor([3.0, 4.0], name="x")
    >>> y = cr.tanh(w * x); y.name = "y"
    >>> J = y.sum(); J.name = "J"
    >>> print(explain(J))
    Forward propagation: each intermediate variable is computed and stored
      y = phi(w (.) x)   (2,)
      J = sum(y)         ()
    <BLANKLINE>
    Backpropagation: the chain rule, in the order the gradients are computed
      dJ/dy = 1                                                    (2,)
      dJ/dw = prod(dJ/dy, dy/dw) = dJ/dy (.) phi'(w (.) x) (.) x   (2,)
    <BLANKLINE>
      where phi = tanh
    """
    if lang not in WORDS:
        raise ValueError(f"explain: lang={lang!r}; use one of {sorted(WORDS)}")
    if format not in ("text", "latex"):
        raise ValueError(f"explain: format={format!r}; use 'text' or 'latex'")
    return Derivation(tensor, names).render(lang, format)


def _shape_text(shape) -> str:
    return "?" if shape is None else str(tuple(shape))


def _shape_latex(shape) -> str:
    if shape is None:
        return ""
    if not shape:
        return r"\in \mathbb{R}"
    return r"\in \mathbb{R}^{" + r" \times ".join(str(s) for s in shape) + "}"


class Derivation:
    """The equations of one graph: forward lines, then backward lines in computed order."""

    def __init__(self, root: Tensor, names=None):
        self.view = view = GraphView(root, collapse=True, names=names)
        self.ctx = Context()
        self.atoms: dict[int, Atom] = {}
        for var in view.vars:
            ndim = 0 if var.shape is None or var.dtype is None or var.dtype.kind != "f" \
                else len(var.shape)
            self.atoms[id(var)] = Atom(var.label, latex_name(var.label, ndim),
                                       scalar=var.shape == ())
        rv = view.root_var
        self.root_names = (rv.label, self.atoms[id(rv)].latex())
        self.fwd: dict[int, object] = {}
        self.forward: list[tuple[Var, object]] = []
        for node in view.order:
            region = view.region_of[id(node)]
            if len(region.nodes) > MAX_REGION:
                if not view.is_var_node(node):
                    continue                    # written as one function of its inputs
                expr = call(f"f{region.index}", *[self.atoms[id(v)] for v in region.inputs])
            else:
                expr = forward_expr(node, self._args(node), self.ctx)
            if view.is_var_node(node):
                self.forward.append((region.out, expr))
                self.fwd[id(node)] = self.atoms[id(region.out)]
            else:
                self.fwd[id(node)] = expr
        self.backward = self._backward()

    def _args(self, node) -> list:
        out = []
        for i in range(len(node.edges)):
            src = self.view.source(node, i)
            if isinstance(src, Var):
                out.append(self.atoms[id(src)])
            elif src is not None:
                out.append(self.fwd[id(src)])
            else:
                out.append(Number(const_value(node, i)))
        return out

    def _shapes(self, node) -> list:
        shapes = []
        for i, edge in enumerate(node.edges):
            src = self.view.source(node, i)
            if isinstance(src, Var):
                shapes.append(src.shape)
            else:
                shapes.append(getattr(edge, "shape", None))
        return shapes

    def grad(self, var: Var) -> Atom:
        """The atom ``dJ/dvar``."""
        return grad_atom(self.root_names, (var.label, self.atoms[id(var)].latex()),
                         scalar=var.shape == ())

    def _region_vjps(self, region: Region, g) -> dict[int, object]:
        """The gradient a region passes to each of its input variables (id(var) -> expr)."""
        out: dict[int, object] = {}
        if len(region.nodes) > MAX_REGION:
            return {id(v): None for v in region.inputs if v.takes_grad}
        pending = {id(region.out.node): g}
        for node in reversed(region.nodes):
            gn = pending.pop(id(node), None)
            if gn is None:
                continue
            args, shapes = self._args(node), self._shapes(node)
            for i, edge in enumerate(node.edges):
                if edge is None:
                    continue
                gi = vjp_expr(node, i, gn, args, self.fwd[id(node)], shapes, self.ctx)
                src = self.view.source(node, i)
                key = id(src)
                target = out if isinstance(src, Var) else pending
                target[key] = add(target.get(key), gi)
        return out

    def _backward(self) -> list:
        view = self.view
        position = {id(n): k for k, n in enumerate(reversed(view.order))}
        last_use: dict[int, int] = {}
        for node in view.order:
            for edge in node.edges:
                if isinstance(edge, Tensor):
                    last_use[id(edge)] = max(last_use.get(id(edge), -1), position[id(node)])
        events = [(position[id(r.out.node)], 0, r.index, r) for r in view.regions]
        events += [(k, 1, view.var_of[key].index, view.var_of[key])
                   for key, k in last_use.items()]
        events.sort(key=lambda e: e[:3])
        grads: dict[int, object] = {}
        terms: dict[int, list] = {}
        lines = []
        root = view.root_var
        for _, kind, _, item in events:
            var = item.out if kind == 0 else item
            if var is root:
                grads[id(var)] = ONE if var.shape == () else self.grad(var)
            else:
                line = self._line(var, terms.get(id(var), []))
                unit = line[2] is ONE and var.shape == ()
                grads[id(var)] = ONE if unit else self.grad(var)
                lines.append(line)
            if kind == 0:
                for key, expr in self._region_vjps(item, grads[id(var)]).items():
                    terms.setdefault(key, []).append((item, expr))
        return lines

    def _line(self, var: Var, contributions: list) -> tuple:
        contributions = sorted(contributions, key=lambda c: c[0].index)
        prods = [("prod", self.grad(r.out), r.out, var) for r, _ in contributions]
        exprs = [e for _, e in contributions]
        rhs = None if any(e is None for e in exprs) else add(*exprs)
        return var, prods, rhs

    # ------------------------------------------------------------------ output
    def _prod(self, p, latex: bool) -> str:
        _, g, out, var = p
        local = grad_atom((out.label, self.atoms[id(out)].latex()),
                          (var.label, self.atoms[id(var)].latex()), scalar=False)
        if latex:
            return rf"\text{{prod}}\left({g.latex()}, {local.latex()}\right)"
        return f"prod({g.text()}, {local.text()})"

    def render(self, lang: str = "en", format: str = "text") -> str:  # noqa: A002
        """The derivation as text or LaTeX in ``lang``."""
        words = WORDS[lang]
        latex = format == "latex"
        fwd_rows = [(self.atoms[id(v)], e, v.shape) for v, e in self.forward]
        back_rows = []
        for var, prods, rhs in self.backward:
            lhs = self.grad(var)
            if rhs is ONE:
                back_rows.append((lhs, "1" if not latex else "1", var.shape))
                continue
            mid = " + ".join(self._prod(p, latex) for p in prods)
            if rhs is not None:
                mid += " = " + (rhs.latex() if latex else rhs.text())
            back_rows.append((lhs, mid, var.shape))
        if latex:
            return self._latex(words, fwd_rows, back_rows)
        out = [words["forward"]]
        out += self._text_block([(a.text(), e.text(), s) for a, e, s in fwd_rows])
        out += ["", words["backward"]]
        out += self._text_block([(a.text(), m, s) for a, m, s in back_rows])
        legend = self._legend(words, latex=False)
        if legend:
            out += ["", "  " + legend]
        return "\n".join(out)

    @staticmethod
    def _text_block(rows: list) -> list:
        if not rows:
            return []
        width = max(len(lhs) for lhs, _, _ in rows)
        body = [f"  {lhs:<{width}} = {rhs}" for lhs, rhs, _ in rows]
        column = max(len(b) for b in body)
        return [f"{b:<{column}}   {_shape_text(s)}" for b, (_, _, s) in zip(body, rows)]

    def _latex(self, words: dict, fwd_rows: list, back_rows: list) -> str:
        out = [f"% {words['forward']}", r"\begin{aligned}"]
        out += [rf"{a.latex()} &= {e.latex()} && {_shape_latex(s)} \\" for a, e, s in fwd_rows]
        out += [r"\end{aligned}", f"% {words['backward']}", r"\begin{aligned}"]
        out += [rf"{a.latex()} &= {m} && {_shape_latex(s)} \\" for a, m, s in back_rows]
        out.append(r"\end{aligned}")
        legend = self._legend(words, latex=True)
        if legend:
            out.append("% " + legend)
        return "\n".join(out)

    def _legend(self, words: dict, latex: bool) -> str:
        items = []
        for symbol, meaning in self.ctx.legend.items():
            meaning = ", ".join(words.get(m, m) for m in meaning.split(", "))
            if symbol == "n":
                meaning = f"{meaning} ({words['n']})"
            name = _LEGEND_LATEX.get(symbol, symbol) if latex else symbol
            items.append(f"{name} = {meaning}")
        for var in self.view.vars:
            if var.note and any(var in r.inputs for r in self.view.regions):
                items.append(f"{var.label} = {var.note}")
        opaque = [r for r in self.view.regions if len(r.nodes) > MAX_REGION]
        for r in opaque:
            items.append(f"f{r.index} = {len(r.nodes)} {words['opaque']}")
        return f"{words['where']} " + ", ".join(items) if items else ""
