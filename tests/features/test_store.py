"""The on-disk store: built once, reused, damaged entries detected and rebuilt, atomic publish."""

import logging

import numpy as np
import pytest
from typer.testing import CliRunner

from polyhead.cli import app
from polyhead.features.store import FeatureStore, cache_root, clear_entries, list_entries

SPECS = {"pooled": ((5, 4), "float16"), "offsets": ((6,), "int64")}


def _builder(value: float, calls: list):
    def build(arrays):
        calls.append(value)
        arrays["pooled"][:] = value
        arrays["offsets"][:] = np.arange(6)

    return build


def _get(store, value=1.5, calls=None, key="k" * 64):
    return store.get(
        key,
        "features",
        {"split": "train"},
        SPECS,
        _builder(value, calls if calls is not None else []),
    )


def test_built_once_then_memory_mapped(tmp_path):
    calls = []
    first = _get(FeatureStore(tmp_path), calls=calls)
    again = FeatureStore(tmp_path)
    second = _get(again, value=9.0, calls=calls)
    assert calls == [1.5]  # the second store read what the first wrote
    assert again.hits == 1 and again.misses == 0
    assert isinstance(second["pooled"], np.memmap) and second["pooled"].dtype == np.float16
    np.testing.assert_array_equal(first["pooled"], second["pooled"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


@pytest.mark.parametrize("damage", ["truncate", "flip", "meta"])
def test_damaged_entry_is_detected_and_rebuilt(tmp_path, caplog, damage):
    _get(FeatureStore(tmp_path))
    (entry,) = tmp_path.iterdir()
    f = entry / "pooled.npy"
    if damage == "truncate":
        f.write_bytes(f.read_bytes()[:-7])
    elif damage == "flip":  # same size, one changed byte: only the checksum sees it
        data = bytearray(f.read_bytes())
        data[-1] ^= 0xFF
        f.write_bytes(bytes(data))
    else:
        (entry / "meta.json").write_text("{not json")
    calls = []
    store = FeatureStore(tmp_path)
    with caplog.at_level(logging.WARNING, logger="polyhead"):
        arrays = _get(store, value=2.5, calls=calls)
    assert calls == [2.5] and store.rebuilt == 1
    assert "unusable" in caplog.text and "rebuilding" in caplog.text
    expected = {"truncate": "truncated", "flip": "checksum", "meta": "meta.json"}[damage]
    assert expected in caplog.text
    assert float(arrays["pooled"][0, 0]) == 2.5
    assert _get(FeatureStore(tmp_path), calls=calls) is not None and calls == [2.5]


def test_concurrent_builder_keeps_the_entry_published_first(tmp_path):
    """Another run publishes the same entry while this one builds: theirs is kept, ours is
    discarded, nothing half-written is left behind."""

    def build(arrays):
        _get(FeatureStore(tmp_path), value=7.0)  # the other run finishes first
        arrays["pooled"][:] = 3.0

    arrays = FeatureStore(tmp_path).get("k" * 64, "features", {}, SPECS, build)
    assert float(arrays["pooled"][0, 0]) == 7.0
    assert [p.name for p in tmp_path.iterdir()] == ["features-" + "k" * 24]


def test_disabled_store_builds_in_memory(tmp_path):
    arrays = _get(FeatureStore(None))
    assert float(arrays["pooled"][0, 0]) == 1.5 and not isinstance(arrays["pooled"], np.memmap)


def test_cache_root_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("POLYHEAD_CACHE", str(tmp_path))
    assert cache_root() == tmp_path / "features"
    assert cache_root(tmp_path / "x") == tmp_path / "x" / "features"


def test_list_and_clear(tmp_path):
    root = tmp_path / "features"
    _get(FeatureStore(root), key="a" * 64)
    _get(FeatureStore(root), key="b" * 64)
    entries = list_entries(root, verify=True)
    assert [e["state"] for e in entries] == ["ok", "ok"]
    assert all(e["bytes"] > 5 * 4 * 2 for e in entries)
    assert clear_entries(root, ["features-" + "a" * 24])[0] == 1
    assert [e["name"] for e in list_entries(root)] == ["features-" + "b" * 24]


def test_cli_list_and_clear(tmp_path):
    root = tmp_path / "features"
    _get(FeatureStore(root), key="a" * 64)
    runner = CliRunner()
    out = runner.invoke(app, ["cache", "list", "--dir", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert "features-" + "a" * 24 in out.output and "1 entries" in out.output
    assert " KB" in out.output or " B " in out.output
    out = runner.invoke(app, ["cache", "clear", "--dir", str(tmp_path)])
    assert out.exit_code == 0 and "removed 1 entries" in out.output
    assert list_entries(root) == []
    out = runner.invoke(app, ["cache", "list", "--dir", str(tmp_path)])
    assert "0 entries" in out.output
