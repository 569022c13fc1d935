"""Cost of one admin edit (`people add`) on configs of growing size, and how many
concurrent edits land (all must: they take turns under the edit lock).

Prints, per organisation size: lines in the YAML, seconds per edit (read under the
lock, round-trip parse, change, full validation, atomic write), and for 8 threads
adding at once whether all 8 people are in the file afterwards.

    .venv/bin/python benchmarks/admin_edits.py [--sizes 10,100,700]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from scheduler.settings import admin
from scheduler.settings.load import load_settings


def write_config(folder: Path, managers: int, sellers: int = 15) -> Path:
    lines = [
        "# benchmark organisation",
        "organisation: {id: acme, name: Acme, timezone: Europe/Stockholm, country: SE}",
        "teams:",
    ]
    for m in range(managers):
        lines += [
            f"  - id: t{m}",
            f"    name: Team {m}  # comment kept",
            f"    manager: {{id: m{m}, name: M {m}, email: m{m}@acme.example}}",
            "    sellers:",
        ]
        lines += [
            f"      - {{id: s{m}x{s}, name: S {s}, email: s{m}x{s}@acme.example}}"
            for s in range(sellers)
        ]
    lines += ["connectors:", "  local: {path: calendars}"]
    path = folder / "coachpass.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,700", help="managers per organisation")
    args = parser.parse_args()
    print(f"{'managers':>8} {'lines':>7} {'s/edit':>7} {'8 concurrent adds landed':>26}")
    for managers in (int(n) for n in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            config = write_config(Path(tmp), managers)
            lines = len(config.read_text().splitlines())
            started = time.perf_counter()
            admin.add_person(config, "t0", {"id": "new", "name": "N", "email": "n@acme.example"})
            one = time.perf_counter() - started
            threads = [
                threading.Thread(
                    target=admin.add_person,
                    args=(config, "t0", {"id": f"c{i}", "name": "C", "email": f"c{i}@a.example"}),
                )
                for i in range(8)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            sellers = {s.id for s in load_settings(config).organisation.team("t0").sellers}
            landed = sum(f"c{i}" in sellers for i in range(8))
            print(f"{managers:>8} {lines:>7} {one:>7.2f} {landed:>24}/8")


if __name__ == "__main__":
    main()
