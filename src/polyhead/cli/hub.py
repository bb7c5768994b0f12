"""polyhead push."""

from __future__ import annotations

from pathlib import Path

import typer

from polyhead.cli.app import app, console


@app.command()
def push(
    model: Path = typer.Argument(..., help="A saved model folder (RUN/model)."),
    repo_id: str = typer.Argument(..., help="The Hub repo to upload to: ORG/NAME."),
    revision: str = typer.Option(None, "--revision", help="A branch (created if missing)."),
    private: bool = typer.Option(None, "--private/--public", help="Visibility of a new repo."),
    message: str = typer.Option(None, "--message", "-m", help="Commit message."),
):
    """Upload a trained model to the Hugging Face Hub (log in first: `hf auth login`, or set
    HF_TOKEN); `polyhead.load("ORG/NAME")` and every command that takes a model read it back."""
    from polyhead.api import push_to_hub

    url = push_to_hub(model, repo_id, revision=revision, private=private, commit_message=message)
    console.print(f"pushed {model} to {repo_id}: {url}")
