#!/usr/bin/env python3
"""docs/results.md's picture of how this machine's speed drifts: the same `cctune bench` launched again
and again, back to back, and each launch's speed against the typical launch.

For every size and placement, each launch's median time is divided by the median of that cell over all
launches; a launch's factor is the geometric mean of those ratios over its cells (1.00: a typical launch,
1.45: 45% slower everywhere). Also printed: the same factor for the 8 MiB cells alone, which are bound
by memory bandwidth rather than by how fast the ranks reach each other.

  python3 scripts/perf_phases.py --build build --ranks 4 --launches 40
"""
import argparse
import json
import math
import os
import sqlite3
import statistics
import subprocess
import tempfile
import time

SWEEP = ["--collective", "allreduce", "--algorithm", "ring,rabenseifner", "-b", "8K", "-e", "8M", "-f", "4",
         "-n", "100", "--rounds", "10", "-w", "5", "-c", "1", "--no-progress"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build")
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--launches", type=int, default=40)
    args = parser.parse_args()
    cctune = os.path.join(args.build, "cli", "cctune")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    print(f"# {args.launches} launches of: mpirun -np {args.ranks} cctune bench {' '.join(SWEEP)}")
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "results.db")
        started = []
        for _ in range(args.launches):
            started.append(time.monotonic())
            subprocess.run(["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(args.ranks), cctune, "bench",
                            *SWEEP, "--db", db], env=env, check=True, capture_output=True)
        medians = {}
        with sqlite3.connect(db) as connection:
            for run, algorithm, size, in_place, samples in connection.execute(
                    "SELECT run_id, algorithm, bytes, in_place, samples_us FROM measurements"):
                medians.setdefault(run, {})[(algorithm, size, in_place)] = statistics.median(json.loads(samples))
    runs = sorted(medians)
    typical = {cell: statistics.median(medians[run][cell] for run in runs) for cell in medians[runs[0]]}

    def factor(run, cells):
        return math.exp(statistics.mean(math.log(medians[run][c] / typical[c]) for c in cells))

    largest = [c for c in typical if c[1] == max(size for _, size, _ in typical)]
    print("# launch  start (s)  factor  factor at 8 MiB")
    for i, run in enumerate(runs):
        print(f"  {i + 1:6}  {started[i] - started[0]:9.0f}  {factor(run, typical):6.2f}  {factor(run, largest):6.2f}")


if __name__ == "__main__":
    main()
