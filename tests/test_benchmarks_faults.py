"""benchmarks/faults.py runs (2 trials per provider) and finds no duplicate event, no
missing session and no store/calendar disagreement, so the script cannot rot."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "faults.py"


def test_fault_benchmark_two_trials(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("faults_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    faults = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, faults)  # dataclasses look it up
    spec.loader.exec_module(faults)
    monkeypatch.setenv("COACHPASS_NOW", faults.NOW)
    lines: list[str] = []
    results = faults.run(
        ["google", "outlook", "local"], 2, seed=3, echo=lines.append, calibrate=False
    )
    assert len(lines) == 4 and lines[0].split()[0] == "provider"
    for name, tally in results.items():
        assert tally.trials == 2, name
        assert tally.unfinished == 0, f"{name}: a rerun never completed"
        assert tally.duplicates == 0 and tally.missing == 0, name
        assert tally.store_disagrees == 0, name
    # How many children the kill caught mid-way depends on the machine's speed (a
    # child may finish first); what matters is that every rerun repaired the month.
    assert all(t.without_agenda == 0 for t in results.values()), results
