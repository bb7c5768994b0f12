"""The Hugging Face Hub: a model named by a Hub id is a folder in the HF cache (fetched once,
then read offline), and `push` uploads an artifact folder with huggingface_hub."""

from __future__ import annotations

from pathlib import Path

from polyhead.errors import ConfigError, PolyheadError
from polyhead.model.artifact import check_files, is_artifact, read_meta
from polyhead.model.backbone import SHORT_NAMES, resolve_backbone


def resolve_model(name: str, revision: str | None = None) -> str:
    """The local folder of a model: an existing folder or a short name ('minilm') as given; a
    Hub id (`org/name`, at `revision`) -> its snapshot in the HF cache, downloaded when not
    cached and the Hub is reachable (HF_HUB_OFFLINE=1: the cache only)."""
    path = Path(name).expanduser()
    if path.exists() or name.lower() in SHORT_NAMES:
        if revision is not None:
            raise PolyheadError(f"{name}: a local model; revision applies to Hub ids only")
        return str(path) if path.exists() else name
    try:
        return resolve_backbone(name, revision)  # a Hub id: hub_snapshot, cache first
    except ConfigError as e:  # worded for model.backbone; here it is the model argument
        raise PolyheadError(str(e).removeprefix(f"config field '{e.field}': ")) from None


def push(
    folder,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool | None = None,
    token: str | None = None,
    commit_message: str | None = None,
) -> str:
    """Upload a saved model folder to the Hub repo `repo_id` (created if missing; `revision`:
    a branch, created if missing). The folder is checked first: a damaged artifact (a file
    whose sha256 differs from polyhead.json) is never uploaded. Returns the commit URL."""
    from huggingface_hub import HfApi  # the Hub client only when pushing

    folder = Path(folder)
    if not is_artifact(folder):
        raise PolyheadError(f"{folder}: not a polyhead model (no polyhead.json); push RUN/model")
    meta = read_meta(folder)
    check_files(folder, meta)
    tasks = ", ".join(t["name"] for t in meta["spec"].get("tasks", [])) or "embeddings"
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision is not None:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            revision=revision,
            commit_message=commit_message or f"polyhead model ({tasks})",
        )
    except Exception as e:  # noqa: BLE001 - offline, no token, no access: one line either way
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise PolyheadError(f"{repo_id}: push failed ({first})") from None
    return str(getattr(info, "commit_url", info))
