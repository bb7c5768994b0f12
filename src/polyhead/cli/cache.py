"""polyhead cache list / clear: the feature cache's entries and their sizes."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from polyhead.cli.app import app

cache_app = typer.Typer(
    help="The feature cache: backbone outputs stored while the backbone is frozen.",
    no_args_is_help=True,
)
app.add_typer(cache_app, name="cache")

DIR_HELP = "Cache folder (default: $POLYHEAD_CACHE, else ~/.cache/polyhead)."


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


@cache_app.command("list")
def list_entries(
    directory: Path = typer.Option(None, "--dir", help=DIR_HELP),
    verify: bool = typer.Option(False, "--verify", help="Also check every file's checksum."),
):
    """Every entry: what it holds, for which data, its size and state."""
    from polyhead.features.store import cache_root
    from polyhead.features.store import list_entries as entries_in

    root = cache_root(directory)
    entries = entries_in(root, verify=verify)
    print(f"feature cache: {root}")
    for e in entries:
        d = e["describe"]
        data = f"{d.get('data', '')}:{d.get('split', '')}" if d else ""
        print(
            f"{e['name']}  {d.get('what', e['kind'])}  {d.get('backbone', '')}  {data}  "
            f"{d.get('examples', '?')} examples  {d.get('dtype', '')}  {_size(e['bytes'])}  "
            f"{e['created']}  {e['state']}"
        )
    total = sum(e["bytes"] for e in entries)
    print(f"{len(entries)} entries, {_size(total)}")


@cache_app.command("clear")
def clear(
    names: list[str] = typer.Argument(None, help="Entries to remove (default: all)."),
    directory: Path = typer.Option(None, "--dir", help=DIR_HELP),
):
    """Remove entries (all, or the named ones) and say how much space that freed."""
    from polyhead.features.store import cache_root, clear_entries

    root = cache_root(directory)
    count, freed = clear_entries(root, names or None)
    Console().print(f"removed {count} entries ({_size(freed)}) from {root}")
