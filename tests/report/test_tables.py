"""The terminal tables `train` / `evaluate` / the demo print."""

from rich.console import Console

from polyhead.report.tables import print_metrics


def printed(metrics: dict) -> str:
    console = Console(record=True, width=200)
    print_metrics(console, metrics)
    return console.export_text()


def test_the_guards_drift_is_printed_with_its_drop():
    # the shape DriftGuard.summary writes to metrics.json (the embedding watched on STS-B dev)
    drift = {"embedding": {"start": 0.8672, "best": 0.8235, "final": 0.8101, "drop": 4.37}}
    text = printed({"test": {"intent": {"accuracy": 0.9}}, "drift": drift})
    row = next(line for line in text.splitlines() if "embedding" in line)
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells == ["embedding", "0.8672", "0.8235", "0.8101", "4.3700"]
    assert "test metrics" in text and "0.9000" in text


def test_a_run_without_a_guard_prints_no_drift_table():
    assert "drift" not in printed({"dev": {"intent": {"accuracy": 0.5}}})
