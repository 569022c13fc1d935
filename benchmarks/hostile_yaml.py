"""What hostile and large config files cost to refuse or read (issue 10, finding 4).

Times `parse_yaml` (the YAML reader, the alias check and the line map) and measures
its peak Python memory (tracemalloc) on: alias bombs of growing depth (refused
without expanding them; before the check a 9x9 bomb took 16 s and 1.1 GB), a
recursive alias, deep nesting, and legitimate large configs written out and with one
anchor shared by every seller (read, within the alias budget; PyYAML's own pure-Python
parsing dominates there, linear in the file). Prints figures; never
asserts a time (machines here are shared and noisy).

    .venv/bin/python benchmarks/hostile_yaml.py
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scheduler.errors import UserError
from scheduler.settings.yaml_lines import parse_yaml


def alias_bomb(levels: int, width: int = 9) -> str:
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def org(sellers: int, *, anchored: bool) -> str:
    hours = "*hours" if anchored else '{start: "09:00", end: "15:00", weekdays: [mon, tue]}'
    head = (
        "organisation: {id: acme, name: Acme, timezone: Europe/Stockholm, country: SE}\n"
        'policy:\n  working_hours: &hours {start: "09:00", end: "15:00", weekdays: [mon, tue]}\n'
        "teams:\n  - id: t\n    name: T\n"
        "    manager: {id: boss, name: Boss, email: boss@acme.example}\n    sellers:\n"
    )
    rows = "".join(
        f"      - {{id: s{i}, name: Seller {i}, email: s{i}@acme.example, "
        f"working_hours: {hours}}}\n"
        for i in range(sellers)
    )
    return head + rows


def measure(label: str, text: str, *, trace: bool = True) -> None:
    """Time and (when `trace`) peak traced memory; tracemalloc slows PyYAML's pure
    Python several times over, so the large legitimate files are timed without it."""
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    try:
        loaded = parse_yaml(text, Path("c.yaml"))
        outcome = f"read, {len(loaded.lines):,} lines mapped"
    except UserError as exc:
        outcome = "refused: " + str(exc).split(": ", 1)[1][:60]
    elapsed = time.perf_counter() - started
    peak = "n/a"
    if trace:
        peak = f"{tracemalloc.get_traced_memory()[1] / 1024:.0f} KiB"
        tracemalloc.stop()
    size = len(text.encode())
    print(f"{label:<34} {size / 1024:>9.1f} KiB {elapsed:>8.3f} s {peak:>10}  {outcome}")


def main() -> None:
    print(f"{'input':<34} {'size':>13} {'time':>10} {'peak':>12}  outcome")
    for levels in (5, 7, 9, 12):
        measure(f"alias bomb {levels}x9", alias_bomb(levels))
    measure("alias bomb 30x2 (2**30 values)", alias_bomb(30, width=2))
    measure("recursive alias", "a: &a [*a]\n")
    measure("nesting 40 deep", "[" * 40 + "]" * 40 + "\n")
    measure("nesting 5,000 deep", "[" * 5000 + "]" * 5000 + "\n")
    for sellers in (200, 2_000):
        for anchored in (False, True):
            how = "by one anchor" if anchored else "written out"
            measure(
                f"{sellers:,} sellers, hours {how}", org(sellers, anchored=anchored), trace=False
            )


if __name__ == "__main__":
    main()
