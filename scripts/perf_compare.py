#!/usr/bin/env python3
"""docs/results.md's numbers for `cctune compare` on this machine: how often two runs of the same
build with nothing changed are called a regression (false alarms), and whether one algorithm slowed
on purpose (bench's test-only --inject-delay) is caught, with the sizes named.

Each repetition records, for each --rounds value in turn, --runs launches for each side, alternating
baseline and current (as a CI job that builds both revisions should), in a throwaway results database.
Interleaving the --rounds values within each repetition exposes them to the same stretches of a shared
machine. `cctune compare` then judges each
repetition at several thresholds (default alpha), once with one launch per side (the first of each) and
once with all of them (best of N, as `cctune compare 1,3,5 2,4,6` does), and pair by pair
(`cctune compare 1,3,5 2,4,6 --paired`).

  python3 scripts/perf_compare.py --build build --ranks 4 --repetitions 20 --runs 3 --rounds 1,5
"""
import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile

SWEEP = ["--collective", "allreduce", "--algorithm", "ring,rabenseifner", "-b", "8K", "-e", "8M", "-f", "4",
         "-w", "5", "-c", "1", "--no-progress"]
# Rank 0 sleeps 1 ms inside each timed ring call of 1 MiB and more (2 and 8 MiB in this sweep): about
# +150% and +25% here. Rabenseifner and the smaller ring sizes are untouched.
SLOWED = "0:0.001:1M:ring"
THRESHOLDS = ["5%", "10%", "15%", "20%", "25%"]


def bench(cctune, ranks, db, iterations, rounds, extra=()):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    proc = subprocess.run(["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(ranks), cctune, "bench",
                           *SWEEP, "-n", str(iterations), "--rounds", str(rounds), *extra, "--db", db],
                          env=env, capture_output=True, text=True, check=True)
    return int(re.search(r"# Recorded as run (\d+)", proc.stdout).group(1))


def compare(cctune, db, baseline, current, threshold, extra=()):
    proc = subprocess.run([cctune, "compare", str(baseline), str(current), "--db", db, "--threshold", threshold,
                           *extra],
                          capture_output=True, text=True)
    named = re.search(r"# REGRESSION at \d+ of \d+ comparisons: (.*)", proc.stdout)
    return proc.returncode, named.group(1) if named else "", proc.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build")
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--repetitions", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3, help="launches per side")
    parser.add_argument("--iterations", type=int, default=50, help="bench -n")
    parser.add_argument("--rounds", default="1", help="bench --rounds values to measure, comma-separated")
    args = parser.parse_args()
    cctune = os.path.join(args.build, "cli", "cctune")
    variants = [int(r) for r in args.rounds.split(",")]
    print(f"# machine: {platform.node()}, {os.cpu_count()} CPUs; {args.ranks} ranks; "
          f"sweep: {' '.join(SWEEP)} -n {args.iterations}")
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "results.db")
        sides = {rounds: [] for rounds in variants}
        for _ in range(args.repetitions):
            for rounds in variants:
                # Alternating the sides' launches lets both see the same stretches of the machine.
                baseline, current = [], []
                for _ in range(args.runs):
                    baseline.append(bench(cctune, args.ranks, db, args.iterations, rounds))
                    current.append(bench(cctune, args.ranks, db, args.iterations, rounds))
                sides[rounds].append((baseline, current))
        pickers = [("1 launch per side", lambda ids: str(ids[0]), [])]
        if args.runs > 1:
            pickers.append((f"best of {args.runs} launches per side", lambda ids: ",".join(map(str, ids)), []))
            pickers.append((f"{args.runs} pairs, --paired", lambda ids: ",".join(map(str, ids)), ["--paired"]))
        for rounds in variants:
            for label, pick, extra in pickers:
                label = f"--rounds {rounds}, {label}"
                worst = []
                for baseline, current in sides[rounds]:
                    _, _, table = compare(cctune, db, pick(baseline), pick(current), "5%", extra)
                    worst.append(max(abs(float(m)) for m in re.findall(r"\s([+-][\d.]+)%\s", table)))
                print(f"no change, {label}: largest |change in median| per repetition: "
                      + ", ".join(f"{w:.1f}%" for w in worst))
                for threshold in THRESHOLDS:
                    exits = [compare(cctune, db, pick(b), pick(c), threshold, extra)[0] for b, c in sides[rounds]]
                    print(f"no change, {label}, --threshold {threshold}: exit 0 in {exits.count(0)} of {len(exits)}",
                          flush=True)
        for rounds in variants:
            baseline, slowed = [], []
            for _ in range(args.runs):
                baseline.append(bench(cctune, args.ranks, db, args.iterations, rounds))
                slowed.append(bench(cctune, args.ranks, db, args.iterations, rounds, ["--inject-delay", SLOWED]))
            for label, pick, extra in pickers:
                for threshold in THRESHOLDS:
                    code, named, table = compare(cctune, db, pick(baseline), pick(slowed), threshold, extra)
                    print(f"ring slowed ({SLOWED}), --rounds {rounds}, {label}, --threshold {threshold}: exit {code}; "
                          f"named: {named}")
            sys.stdout.write(table)


if __name__ == "__main__":
    main()
