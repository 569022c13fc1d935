"""Failover time of `coachpass serve` on PostgreSQL: kill -9 the leader, time until
the standby says it leads. Repeats N times (the killed instance is restarted as the
new standby each round) and prints min / mean / max. Never asserts a time.

Needs the PostgreSQL server on 127.0.0.1:5432 (user postgres, database `test`); it
works in a schema of its own and drops it afterwards.

    .venv/bin/python benchmarks/failover.py                # 5 kills, standby poll 2 s
    .venv/bin/python benchmarks/failover.py -n 10 --poll 1
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from tests.conftest import PG_URL
from tests.orgs import write_org
from tests.service.procs import Serve

LEADS = r"leader: this instance runs the jobs"
STANDBY = r"standby: another instance leads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5, help="kills (default 5)")
    parser.add_argument("--poll", type=float, default=2.0, help="standby poll, seconds")
    args = parser.parse_args()

    schema = "bench_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    times: list[float] = []
    instances: list[Serve] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            config = write_org(Path(folder), sellers=2, store_url=url)
            leader = Serve(config, poll=args.poll)
            leader.wait_for(LEADS)
            standby = Serve(config, poll=args.poll)
            standby.wait_for(STANDBY)
            instances = [leader, standby]
            for round_ in range(1, args.n + 1):
                # Kill at a random point of the standby's poll cycle, as a crash would.
                time.sleep(random.uniform(1.0, 1.0 + 2 * args.poll))
                killed = time.monotonic()
                leader.kill9()
                took = standby.wait_for(LEADS, timeout=120, after=killed) - killed
                times.append(took)
                print(f"kill {round_}: standby led after {took:.2f} s", flush=True)
                leader, standby = standby, Serve(config, poll=args.poll)
                instances.append(standby)
                standby.wait_for(STANDBY)
            for inst in instances:
                inst.stop()
    finally:
        for inst in instances:
            if inst.alive():
                inst.stop()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
    print(
        f"\ntakeover after kill -9 over {len(times)} kills (standby poll {args.poll:g} s): "
        f"min {min(times):.2f} s, mean {statistics.mean(times):.2f} s, max {max(times):.2f} s"
    )


if __name__ == "__main__":
    main()
