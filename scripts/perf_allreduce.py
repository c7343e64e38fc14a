#!/usr/bin/env python3
"""docs/perf.md's numbers: our host allreduce algorithms beside Open MPI's own algorithms 1-6, and the
host reduction kernel beside memcpy.

Every configuration (each forced Open MPI algorithm, each of ours) gets a launch of its own, once per
round, and the rounds are interleaved, so all run under the same conditions and slow drifts of a shared
machine hit them alike; each cell is the median over rounds of the per-run median (per iteration,
slowest rank, out of place).

  python3 scripts/perf_allreduce.py --build build --ranks 4 --rounds 5 > /tmp/perf.md
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

OMPI_ALGORITHMS = {0: "default decision", 1: "basic_linear", 2: "nonoverlapping", 3: "recursive_doubling",
                   4: "ring", 5: "segmented_ring", 6: "rabenseifner"}
OURS = ["ring", "recursive_doubling", "rabenseifner"]
REPORTED = [1024, 65536, 1 << 20, 16 << 20]


def bench(args, build, ranks, extra_mpirun, algorithms, path):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    command = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(ranks), *extra_mpirun,
               os.path.join(build, "cli", "cctune"), "bench", "--collective", "allreduce", "--algorithm",
               ",".join(algorithms), "-b", "1K", "-e", "16M", "-f", "4", "-n", str(args.iters), "-w", "5", "-c", "1",
               "--no-progress", "-J", path]
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    with open(path) as f:
        doc = json.load(f)
    return {(row["cctune"]["algorithm"], row["size"]): row["cctune"]["out_of_place"]["median_us"]
            for row in doc["results"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build")
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=50)
    args = parser.parse_args()

    samples = {}  # (label, size) -> [median per round]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "run.json")
        for round_index in range(args.rounds):
            print(f"round {round_index + 1}/{args.rounds}", file=sys.stderr)
            for algorithm in OMPI_ALGORITHMS:
                forced = ["--mca", "coll_tuned_use_dynamic_rules", "1", "--mca", "coll_tuned_allreduce_algorithm",
                          str(algorithm)]
                for (_, size), median in bench(args, args.build, args.ranks, forced, ["mpi"], path).items():
                    samples.setdefault((f"ompi {algorithm}", size), []).append(median)
            for name in OURS:
                for (_, size), median in bench(args, args.build, args.ranks, [], [name], path).items():
                    samples.setdefault((f"cctune {name}", size), []).append(median)

    cell = {key: statistics.median(values) for key, values in samples.items()}
    labels = [f"ompi {a}" for a in OMPI_ALGORITHMS] + [f"cctune {n}" for n in OURS]
    names = {f"ompi {a}": f"Open MPI {a} ({n})" for a, n in OMPI_ALGORITHMS.items()}
    names.update({f"cctune {n}": f"cctune {n}" for n in OURS})

    print(f"Median time per allreduce (µs), float32 sum, out of place, {args.ranks} ranks, "
          f"median of {args.rounds} interleaved rounds of -n {args.iters}:\n")
    print("| algorithm | " + " | ".join(size_label(s) for s in REPORTED) + " |")
    print("|---|" + "---:|" * len(REPORTED))
    for label in labels:
        print(f"| {names[label]} | " + " | ".join(f"{cell[(label, s)]:.1f}" for s in REPORTED) + " |")
    print("\nOur best against Open MPI's best (forced 1-6 or its default), per size:\n")
    print("| size | Open MPI best | cctune best | cctune / Open MPI |")
    print("|---|---|---|---:|")
    for s in REPORTED:
        ompi = min((l for l in labels if l.startswith("ompi")), key=lambda l: cell[(l, s)])
        ours = min((l for l in labels if l.startswith("cctune")), key=lambda l: cell[(l, s)])
        print(f"| {size_label(s)} | {names[ompi]}: {cell[(ompi, s)]:.1f} µs | {names[ours]}: {cell[(ours, s)]:.1f} µs "
              f"| {cell[(ours, s)] / cell[(ompi, s)]:.2f} |")
    print()
    kernel_table(args.build)
    print(f"\nMachine: {platform.node()}, {os.cpu_count()} cores, {platform.platform()}.")


def size_label(size):
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            return f"{size >> shift} {unit}"
    return f"{size} B"


def kernel_table(build):
    binary = os.path.join(build, "tests", "cctune_reduce_benchmark")
    out = subprocess.run([binary, "--benchmark_format=json", "--benchmark_repetitions=5",
                          "--benchmark_report_aggregates_only=true", "--benchmark_min_time=0.2"],
                         check=True, capture_output=True, text=True).stdout
    rates = {}
    for entry in json.loads(out)["benchmarks"]:
        if entry.get("aggregate_name") != "median":
            continue
        name, size = entry["run_name"].split("/")
        rates[(name, int(size))] = entry["traffic_GBps"]  # the counter is already in GB/s
    sizes = sorted({size for _, size in rates})
    print("Host reduction kernel against memcpy on the same buffers: memory traffic (bytes read + written) "
          "in GB/s, median of 5 repetitions:\n")
    print("| buffer | memcpy | sum float32 | ratio | sum float64 | sum int32 | max float32 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        copy = rates[("BM_Memcpy", size)]
        sum32 = rates[("BM_ReduceSum_float32", size)]
        print(f"| {size_label(size)} | {copy:.1f} | {sum32:.1f} | {sum32 / copy:.2f} | "
              f"{rates[('BM_ReduceSum_float64', size)]:.1f} | {rates[('BM_ReduceSum_int32', size)]:.1f} | "
              f"{rates[('BM_ReduceMax_float32', size)]:.1f} |")


if __name__ == "__main__":
    main()
