"""The `polyhead` command. Each feature registers its commands on `app` in its own module."""

from polyhead.cli import cache  # noqa: F401  (cache list, cache clear)
from polyhead.cli import embed, train  # noqa: F401  (registers commands)
from polyhead.cli import serve  # noqa: F401  (serve, export)
from polyhead.cli import compare  # noqa: F401  (compare)
from polyhead.cli.app import app, main

__all__ = ["app", "main"]
