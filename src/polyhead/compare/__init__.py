"""Strategy comparisons: run strategies x seeds through `train()`, aggregate mean +- std,
plot, and write report.md / report.html. See `runner.run_comparison`."""
