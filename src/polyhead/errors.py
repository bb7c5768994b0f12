"""User-facing errors: one line that names the file:line or config field and what was expected."""


class PolyheadError(Exception):
    """Base for errors the CLI prints as one line and exits with code 2."""


class DataError(PolyheadError, ValueError):
    """Malformed input data. Message starts with `path:line:`."""

    def __init__(self, path: object, line: int | None, message: str):
        self.path, self.line = str(path), line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class ConfigError(PolyheadError, ValueError):
    """Invalid configuration. Message names the dotted field."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"config field '{field}': {message}")
