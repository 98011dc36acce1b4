"""The page as one self-contained HTML file: the drawing's SVG, CSS, JavaScript and data inline.

The template, style and script are package data (``assets/page.html``, ``page.css``,
``page.js``); the page's data (:func:`~chainrule.viz.page.record.record`) goes in as a
JavaScript literal.  Nothing is fetched: a Content-Security-Policy of ``default-src 'none'``
forbids it, so the file works from ``file://`` with no server and no network.  The page
exposes ``window.chainrule`` with ``steps()``, ``go(i)`` (``-1`` is the start, before the
first operator) and ``state()``.
"""

from __future__ import annotations

import html
import json
import os
from importlib import resources
from pathlib import Path

__all__ = ["page_html", "write_page", "Page", "UI_WORDS"]

UI_WORDS = {
    "en": {
        "forward": "forward", "backward": "backward", "start": "start", "reset": "Reset",
        "back": "Back", "next": "Next", "play": "▶ Play", "pause": "⏸ Pause", "step": "step",
        "ran": "ran", "vjp": "VJP of", "press": "Press → (or Next) to run the first operator.",
        "inner": "(inside the operator)", "shape": "shape", "min": "min", "max": "max",
        "mean": "mean", "norm": "norm", "heat": "heatmap of block means", "hist": "histogram",
        "held": "held for backward (parameters and inputs too)",
        "made": "of which made by forward (activations, masks)", "peak": "peak",
        "grads_of": "gradients",
        "step_peak": "training step peak (gradients and temporaries too):",
        "nograd": "the same forward under no_grad: activations alive",
        "nograd_note": "prediction peak (memory.report, Python objects included):",
        "nograd_toggle": "no_grad forward beside", "second_toggle": "second derivatives",
        "training_toggle": "training view", "lines": "The chain rule, in the order computed",
        "second_title": "The graph of a gradient (create_graph=True), beside the forward graph",
        "training_title": "The first SGD steps", "batch": "batch", "loss": "objective J",
        "grad_norm": "gradient norm per parameter",
        "update": "update size / parameter size",
        "no_svg": "No Graphviz renderer was found to draw the graph (pip install "
                  "graphviz-pure); the steps still work.",
        "help": "Keys: → next operator, ← back, space play/pause, Home reset, End last step. "
                "Boxes are variables, circles operators; yellow is the current step, blue "
                "what forward has computed, red the gradients backward has completed.",
    },
    "pt": {
        "forward": "propagação direta", "backward": "retropropagação", "start": "início",
        "reset": "Reiniciar", "back": "Voltar", "next": "Avançar", "play": "▶ Tocar",
        "pause": "⏸ Pausar", "step": "passo", "ran": "executou", "vjp": "VJP de",
        "press": "Pressione → (ou Avançar) para executar o primeiro operador.",
        "inner": "(dentro do operador)", "shape": "forma", "min": "mín", "max": "máx",
        "mean": "média", "norm": "norma", "heat": "mapa de calor das médias por bloco",
        "hist": "histograma",
        "held": "guardado para a retropropagação (parâmetros e entradas também)",
        "made": "dos quais feitos pela propagação direta (ativações, máscaras)", "peak": "pico",
        "grads_of": "gradientes",
        "step_peak": "pico de um passo de treino (gradientes e temporários também):",
        "nograd": "a mesma propagação sob no_grad: ativações vivas",
        "nograd_note": "pico da predição (memory.report, objetos Python incluídos):",
        "nograd_toggle": "no_grad ao lado", "second_toggle": "segundas derivadas",
        "training_toggle": "treino", "lines": "A regra da cadeia, na ordem calculada",
        "second_title": "O grafo de um gradiente (create_graph=True), ao lado do grafo direto",
        "training_title": "Os primeiros passos de SGD", "batch": "lote",
        "loss": "objetivo J", "grad_norm": "norma do gradiente por parâmetro",
        "update": "tamanho da atualização / tamanho do parâmetro",
        "no_svg": "Nenhum Graphviz encontrado para desenhar o grafo (pip install "
                  "graphviz-pure); os passos funcionam.",
        "help": "Teclas: → próximo operador, ← voltar, espaço tocar/pausar, Home reiniciar, "
                "End último passo. Caixas são variáveis, círculos operadores; amarelo é o "
                "passo atual, azul o já calculado, vermelho os gradientes completos.",
    },
    "fr": {
        "forward": "propagation avant", "backward": "rétropropagation", "start": "début",
        "reset": "Recommencer", "back": "Reculer", "next": "Avancer", "play": "▶ Lire",
        "pause": "⏸ Pause", "step": "étape", "ran": "a exécuté", "vjp": "VJP de",
        "press": "Appuyez sur → (ou Avancer) pour exécuter le premier opérateur.",
        "inner": "(dans l'opérateur)", "shape": "forme", "min": "min", "max": "max",
        "mean": "moyenne", "norm": "norme", "heat": "carte de chaleur des moyennes par bloc",
        "hist": "histogramme",
        "held": "gardé pour la rétropropagation (paramètres et entrées compris)",
        "made": "dont créé par la propagation avant (activations, masques)", "peak": "pic",
        "grads_of": "gradients",
        "step_peak": "pic d'une étape d'entraînement (gradients et temporaires compris) :",
        "nograd": "la même propagation sous no_grad : activations vivantes",
        "nograd_note": "pic de la prédiction (memory.report, objets Python compris) :",
        "nograd_toggle": "no_grad à côté", "second_toggle": "dérivées secondes",
        "training_toggle": "entraînement",
        "lines": "La règle de la chaîne, dans l'ordre du calcul",
        "second_title": "Le graphe d'un gradient (create_graph=True), à côté du graphe avant",
        "training_title": "Les premières étapes de SGD", "batch": "lot",
        "loss": "objectif J", "grad_norm": "norme du gradient par paramètre",
        "update": "taille de la mise à jour / taille du paramètre",
        "no_svg": "Aucun Graphviz trouvé pour dessiner le graphe (pip install graphviz-pure) ; "
                  "les étapes fonctionnent.",
        "help": "Touches : → opérateur suivant, ← reculer, espace lire/pause, Début "
                "recommencer, Fin dernière étape. Boîtes : variables, cercles : opérateurs ; "
                "jaune l'étape en cours, bleu ce qui est calculé, rouge les gradients complets.",
    },
}


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


def _literal(data: dict) -> str:
    """``data`` as a JavaScript literal safe inside ``<script>`` (NaN and Infinity allowed)."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return (text.replace("</", "<\\/").replace("<!--", "<\\!--")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def page_html(data: dict) -> str:
    """The whole page for ``data`` (from :func:`~chainrule.viz.page.record.record`)."""
    lang = data.get("lang", "en")
    data = dict(data, words=UI_WORDS[lang])
    data.setdefault("subtitle", "")
    title = html.escape(data["title"])
    # the data goes in last: nothing in it can be mistaken for a placeholder
    return (_asset("page.html").replace("__LANG__", lang).replace("__TITLE__", title)
            .replace("__CSS__", _asset("page.css")).replace("__JS__", _asset("page.js"))
            .replace("__DATA__", _literal(data)))


def write_page(data: dict, path: str | os.PathLike) -> Path:
    """Write the page for ``data`` to ``path`` (its folder must exist); returns the path."""
    path = Path(path)
    path.write_text(page_html(data), encoding="utf-8")
    return path


class Page:
    """A page kept in memory; a notebook displays it inline (in a sandboxed frame)."""

    def __init__(self, data: dict):
        self.data = data

    @property
    def html(self) -> str:
        """The page's HTML text."""
        return page_html(self.data)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the page to ``path``."""
        return write_page(self.data, path)

    def _repr_html_(self) -> str:
        source = html.escape(self.html, quote=True)
        return (f'<iframe srcdoc="{source}" sandbox="allow-scripts" '
                'style="width:100%;height:820px;border:1px solid #ddd"></iframe>')

    def __repr__(self) -> str:
        return f"<Page {self.data['title']!r}: {len(self.data['steps'])} steps>"
