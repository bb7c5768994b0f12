"""The `polyhead` command. Each feature registers its commands on `app` in its own module."""

from polyhead.cli import (  # noqa: F401  (registers commands)
    cache,  # noqa: F401  (cache list, cache clear)
    compare,  # noqa: F401  (compare)
    embed,
    hub,  # noqa: F401  (push)
    serve,  # noqa: F401  (serve, export)
    train,
    tune,  # noqa: F401  (tune)
)
from polyhead.cli.app import app, main

__all__ = ["app", "main"]
