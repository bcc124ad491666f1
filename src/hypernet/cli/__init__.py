"""The ``hypernet`` command line: ``main`` runs it (see :mod:`hypernet.cli.main`)."""

from .main import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, build_parser, main

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]
