"""The command line: ``chainrule train | chapter | graph | explain | memory | partition``.

:mod:`.main` holds the one parser and hands each subcommand to its module; :mod:`.args` holds
the argument validators they all share.
"""

from .main import main

__all__ = ["main"]
