#!/usr/bin/env python3
"""How well `cctune plan` predicts node counts it never saw, on the simulated cluster (needs root).

Measures every modeled algorithm on FIT node counts and on CHECK node counts (2 ranks per node, every
link throttled to RATE), fits the cost model on the FIT runs only (`cctune plan --from ... --nodes N`),
and compares its prediction with what was measured at each CHECK count, for sizes of 64 KiB and more.
Prints the Markdown table and the per-algorithm summary that docs/perf.md shows; exits 1 when any
algorithm's median error is over 15% or its worst over 30%.

  sudo python3 scripts/plan_accuracy.py [--cctune build/cli/cctune] [--fit 2,3] [--check 4,6,8] [--reuse DIR]
                                        [--rate 100mbit] [--burst-ms 6] [--verify-at 4]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SIMCLUSTER = os.path.join(HERE, "..", "tests", "cluster", "simcluster")
ALGORITHMS = {"allreduce": "ring,recursive_doubling,rabenseifner", "alltoall": "pairwise,bruck,linear"}
SIZES = ("1K", "1M", "4")  # -b, -e, -f: 1 KiB to 1 MiB
# Ten calls per size, in five rounds over all sizes: a slow stretch of this shared machine (16 ranks on 2
# cores at 8 nodes) then costs one round of every size instead of all of one size's calls. With all ten
# calls of a size back to back (-n 5 -w 2 before), Bruck's 1 MiB median at 8 nodes was 486, 563 and 637 ms
# in three runs; its bytes need 294 ms at line rate.
REPETITIONS = ("-n", "10", "--rounds", "5", "-w", "1")
MIN_CHECKED = 64 * 1024
MIN_CHECKED_TEXT = "64K"


# Open MPI's TCP transport sends messages over 64 KiB by rendezvous: a handshake first. In the throttled
# link's queue (up to 400 ms of data) that handshake waits behind bulk data, which a real fabric's
# switch buffers never hold; sent eagerly, a message goes as it would on such a fabric.
#
# The simulated nodes share this machine's cores (16 ranks on 2 at 8 nodes), which a real node's ranks
# never do, and mpirun sees no oversubscription (each node has as many slots as ranks), so every waiting
# rank spins on its core: one that has data to drain then waits for a time slice while the link idles.
# Yielding when idle, the predictions for 4-8 nodes fitted on 2-3 met the target in three runs of four,
# against two of five without it (docs/perf.md).
MPI_ENV = {"OMPI_MCA_btl_tcp_eager_limit": "4194304", "OMPI_MCA_btl_tcp_rndv_eager_limit": "4194304",
           "OMPI_MCA_btl_tcp_max_send_size": "4194304", "OMPI_MCA_mpi_yield_when_idle": "1"}


def link_gbps(rate):
    """tc's rate ("100mbit", "1gbit") in Gb/s, for plan's --link-gbps: the simulated links' speed of light."""
    units = {"kbit": 1e-6, "mbit": 1e-3, "gbit": 1.0}
    for unit, scale in units.items():
        if rate.endswith(unit):
            return "{:g}".format(float(rate[:-len(unit)]) * scale)
    sys.exit("--rate {}: give kbit, mbit or gbit".format(rate))


def run(command, timeout=1800):
    proc = subprocess.run(command, env=dict(os.environ, **MPI_ENV), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        sys.exit("{} failed ({}):\n{}{}".format(" ".join(command), proc.returncode, proc.stdout, proc.stderr))
    return proc


def measure(cctune, nodes, ranks, rate, burst_ms, out_dir):
    """One cluster of `nodes`, every algorithm at every size; returns the JSON file per collective."""
    name = "plan{}".format(nodes)
    subprocess.run([SIMCLUSTER, "--name", name, "down"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rates = [x for i in range(1, nodes + 1) for x in ("--rate", "node{}={}".format(i, rate))]
    run([SIMCLUSTER, "--name", name, "up", str(nodes), "--ranks-per-node", str(ranks), "--burst-ms", str(burst_ms),
         *rates], timeout=120)
    files = []
    try:
        work = "/run/cctune-simcluster-{}/work".format(name)
        for collective, algorithms in ALGORITHMS.items():
            path = os.path.join(work, "{}-{}.json".format(collective, nodes))
            run([SIMCLUSTER, "--name", name, "mpirun", "--", cctune, "bench", "--collective", collective,
                 "--algorithm", algorithms, "-b", SIZES[0], "-e", SIZES[1], "-f", SIZES[2], *REPETITIONS,
                 "-c", "1", "--no-db", "--no-progress", "-T", "300", "-J", path])
            kept = os.path.join(out_dir, os.path.basename(path))
            shutil.copy(path, kept)
            files.append(kept)
    finally:
        subprocess.run([SIMCLUSTER, "--name", name, "down"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return files


def measured_medians(path):
    """{(collective, algorithm, bytes): median us} of the out-of-place rows."""
    with open(path) as f:
        doc = json.load(f)
    return {(row["cctune"]["collective"], row["cctune"]["algorithm"], row["size"]): row["cctune"]["out_of_place"]["median_us"]
            for row in doc["results"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cctune", default=os.path.join(HERE, "..", "build", "cli", "cctune"))
    parser.add_argument("--fit", default="2,3")
    parser.add_argument("--check", default="4,6,8")
    parser.add_argument("--ranks-per-node", type=int, default=2)
    parser.add_argument("--rate", default="100mbit")
    # 6 ms is 75 KB at 100 Mbit/s: above the veth's 64 KiB GSO packets, which a smaller bucket makes tbf
    # cut up (1 ms halved ring's throughput on 8 nodes), and under the 115 KB a 64 KiB pairwise call puts
    # through each NIC on 8 nodes, which simcluster's default 10 ms (125 KB) passed 20-37% faster than
    # the line rate in three runs (docs/perf.md).
    parser.add_argument("--burst-ms", type=int, default=6, help="simcluster's token bucket (milliseconds of traffic)")
    parser.add_argument("--fit-min-bytes", default="64K",
                        help="sizes fitted (the throttle's token bucket lets smaller calls through faster than the line rate)")
    parser.add_argument("--reuse", metavar="DIR", help="the measured files of an earlier run (its COLLECTIVE-NODES.json)")
    parser.add_argument("--verify-at", type=int, metavar="NODES",
                        help="then add the predictions for NODES to a profile (plan --add-to) and run `cctune verify` "
                             "on that many simulated nodes, which says which predictions held")
    args = parser.parse_args()
    cctune = os.path.realpath(args.cctune)
    fit_nodes = [int(n) for n in args.fit.split(",")]
    check_nodes = [int(n) for n in args.check.split(",")]
    if args.reuse:
        out_dir = args.reuse
        runs = {n: [os.path.join(out_dir, "{}-{}.json".format(c, n)) for c in ALGORITHMS] for n in fit_nodes + check_nodes}
    else:
        out_dir = tempfile.mkdtemp(prefix="cctune-plan-accuracy-")
        runs = {n: measure(cctune, n, args.ranks_per_node, args.rate, args.burst_ms, out_dir)
                for n in fit_nodes + check_nodes}
    fit_files = [path for n in fit_nodes for path in runs[n]]
    errors = {}
    table = []
    for n in check_nodes:
        plan_path = os.path.join(out_dir, "plan-{}.json".format(n))
        command = [cctune, "plan", "--nodes", str(n), "--ranks-per-node", str(args.ranks_per_node), "-b", SIZES[0],
                   "-e", SIZES[1], "-f", SIZES[2], "--fit-min-bytes", args.fit_min_bytes, "--link-gbps", link_gbps(args.rate),
                   "-J", plan_path]
        for path in fit_files:
            command += ["--from", path]
        fits = run(command).stdout
        if n == check_nodes[0]:
            print("\n".join(line for line in fits.splitlines() if line.strip().startswith("fit ")) + "\n")
        with open(plan_path) as f:
            predicted = {(r["collective"], r["algorithm"], r["bytes"]): r["predicted_us"] for r in json.load(f)["rows"]}
        measured = {}
        for path in runs[n]:
            measured.update(measured_medians(path))
        for key, us in sorted(measured.items()):
            collective, algorithm, size = key
            if size < MIN_CHECKED or key not in predicted:
                continue
            error = 100.0 * (predicted[key] - us) / us
            errors.setdefault((collective, algorithm), []).append(abs(error))
            table.append((collective, algorithm, n, size, us, predicted[key], error))
    print("Fitted on {} nodes, checked on {} ({} ranks per node, links at {}); files in {}\n".format(
        args.fit, args.check, args.ranks_per_node, args.rate, out_dir))
    print("| collective | algorithm | nodes | size (B) | measured (us) | predicted (us) | error |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for collective, algorithm, n, size, us, pred, error in table:
        print("| {} | {} | {} | {} | {:.0f} | {:.0f} | {:+.1f}% |".format(collective, algorithm, n, size, us, pred, error))
    print("\n| collective | algorithm | points | median error | worst error | within 15% / 30% |")
    print("|---|---|---:|---:|---:|---|")
    failed = False
    for (collective, algorithm), values in sorted(errors.items()):
        median, worst = statistics.median(values), max(values)
        ok = median <= 15 and worst <= 30
        failed |= not ok
        print("| {} | {} | {} | {:.1f}% | {:.1f}% | {} |".format(collective, algorithm, len(values), median, worst,
                                                                 "yes" if ok else "NO"))
    if args.verify_at:
        verify_predictions(cctune, args, fit_files, out_dir)
    return 1 if failed else 0


def verify_predictions(cctune, args, fit_files, out_dir):
    """A profile measured at the first fit shape (no rules of its own), the plan's predictions for
    --verify-at nodes added, then verified there: what a tenant does before trusting a prediction."""
    nodes, ranks = args.verify_at, args.ranks_per_node
    fit0 = int(args.fit.split(",")[0])
    profile = os.path.join(out_dir, "profile.json")
    with open(profile, "w") as f:
        json.dump({"format": "cctune-profile", "version": 1, "backend": "mpi",
                   "shape": {"nranks": fit0 * ranks, "nnodes": fit0, "ranks_per_node": ranks}, "rules": []}, f)
    command = [cctune, "plan", "--nodes", str(nodes), "--ranks-per-node", str(ranks), "-b", MIN_CHECKED_TEXT,
               "-e", SIZES[1], "-f", SIZES[2], "--fit-min-bytes", args.fit_min_bytes, "--link-gbps", link_gbps(args.rate),
               "--add-to", profile]
    for path in fit_files:
        command += ["--from", path]
    print("\n" + run(command).stdout.splitlines()[-1])
    name = "planv{}".format(nodes)
    subprocess.run([SIMCLUSTER, "--name", name, "down"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rates = [x for i in range(1, nodes + 1) for x in ("--rate", "node{}={}".format(i, args.rate))]
    run([SIMCLUSTER, "--name", name, "up", str(nodes), "--ranks-per-node", str(ranks), "--burst-ms",
         str(args.burst_ms), *rates], timeout=120)
    try:
        work = "/run/cctune-simcluster-{}/work".format(name)
        shutil.copy(profile, work)
        verify = [SIMCLUSTER, "--name", name, "mpirun", "--", cctune, "verify", os.path.join(work, "profile.json"),
                  "-b", MIN_CHECKED_TEXT, "-e", SIZES[1], "-f", SIZES[2], "--rounds", "3", "-n", "5", "--no-db"]
        proc = subprocess.run(verify, env=dict(os.environ, **MPI_ENV), stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=1800)
        print("$ cctune verify profile.json -b {} -e {} -f {} --rounds 3 -n 5   # on {} nodes x {} ranks (exit {})\n{}"
              .format(MIN_CHECKED_TEXT, SIZES[1], SIZES[2], nodes, ranks, proc.returncode, proc.stdout.rstrip()))
        if proc.returncode not in (0, 1):
            sys.exit("verify failed:\n" + proc.stderr)
    finally:
        subprocess.run([SIMCLUSTER, "--name", name, "down"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    sys.exit(main())
