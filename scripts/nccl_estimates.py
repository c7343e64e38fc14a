#!/usr/bin/env python3
"""`cctune plan`'s predictions beside NCCL's own estimates for the same machine (issue 18, docs/gpu.md).

scripts/gpu-check.sh, on a machine with two GPUs or more, writes nccl-estimates.json (what
ncclGroupSimulateEnd said for allreduce and alltoall, 1 KiB to 1 GiB, one process per GPU) and the
topology NCCL detected (nccl-topology.xml, beside it). This runs `cctune plan --topology` on that
topology for one node of that many GPUs, and prints one Markdown table: per collective, algorithm and
size, NCCL's estimate, plan's prediction and their ratio; then each algorithm's median and range of
the ratio. NCCL's own choice ("nccl") is set beside plan's best for the size.

  python3 scripts/nccl_estimates.py --estimates OUT/nccl-estimates.json [--topology XML]
                                    [--cctune build/cli/cctune] [--gpu-model H100-SXM5]

Exit 0 with the table; 1 with one line when the files cannot be read or plan fails.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

# plan's family for each algorithm NCCL was asked to estimate (tests/gpu/nccl_estimates.cpp).
PLAN_NAME = {("allreduce", "ring"): "ring", ("allreduce", "tree"): "tree", ("allreduce", "nvls"): "nvls",
             ("alltoall", "nccl"): "p2p"}


def fail(message):
    print("nccl_estimates: " + message)
    sys.exit(1)


def load_estimates(path):
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        fail("cannot read {}: {}".format(path, e))
    for key in ("gpus", "rows"):
        if key not in data:
            fail("{} has no \"{}\": not written by gpu-check's estimates".format(path, key))
    gpus = data["gpus"]
    if not isinstance(gpus, int) or not 1 <= gpus <= 64:
        fail("{}: gpus {!r} is not a count from 1 to 64".format(path, gpus))
    return data


def plan_rows(cctune, topology, gpus, sizes, gpu_model):
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "plan.json")
        command = [cctune, "plan", "--topology", topology, "--nodes", "1", "--ranks-per-node", str(gpus),
                   "-b", str(min(sizes)), "-e", str(max(sizes)), "-f", "4", "-J", out]
        if gpu_model:
            command += ["--gpu-model", gpu_model]
        proc = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if proc.returncode != 0:
            fail("{} failed: {}".format(" ".join(command), (proc.stdout + proc.stderr).strip().splitlines()[-1:]))
        with open(out) as f:
            return json.load(f)["rows"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimates", required=True, help="nccl-estimates.json from scripts/gpu-check.sh")
    parser.add_argument("--topology", help="NCCL's topology XML (default: nccl-topology.xml beside the estimates)")
    parser.add_argument("--cctune", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "cli", "cctune"))
    parser.add_argument("--gpu-model", help="the GPUs' model where NCCL's topology does not name it")
    args = parser.parse_args()

    data = load_estimates(args.estimates)
    topology = args.topology or os.path.join(os.path.dirname(os.path.abspath(args.estimates)), "nccl-topology.xml")
    if not os.path.isfile(topology):
        fail("no topology at {} (give --topology)".format(topology))
    rows = [r for r in data["rows"] if isinstance(r.get("bytes"), int) and r["bytes"] > 0]
    if not rows:
        fail("{} has no rows".format(args.estimates))
    plan = plan_rows(args.cctune, topology, data["gpus"], [r["bytes"] for r in rows], args.gpu_model)
    predicted = {(p["collective"], p["algorithm"], p["bytes"]): p["predicted_us"] for p in plan}
    best = {(p["collective"], p["bytes"]): (p["algorithm"], p["predicted_us"]) for p in plan if p.get("best")}

    print("NCCL {} on {} x {} ({}), one process per GPU; plan from {} for 1 node x {} ranks".format(
        data.get("nccl_version", "?"), data["gpus"], data.get("device", "?"), data.get("dtype", "?"),
        os.path.basename(topology), data["gpus"]))
    print()
    print("| collective | algorithm | size (B) | NCCL's estimate (us) | plan (us) | plan / NCCL |")
    print("|---|---|---:|---:|---:|---:|")
    ratios = {}
    for r in rows:
        key = (r["collective"], r["algorithm"])
        if r["algorithm"] == "nccl" and key not in PLAN_NAME:
            name, us = best.get((r["collective"], r["bytes"]), (None, None))
            label = "nccl (plan's best: {})".format(name) if name else "nccl"
        else:
            name = PLAN_NAME.get(key)
            us = predicted.get((r["collective"], name, r["bytes"])) if name else None
            label = r["algorithm"]
        nccl = r.get("estimated_us")
        ratio = us / nccl if us and nccl else None
        if ratio:
            ratios.setdefault(key, []).append(ratio)
        print("| {} | {} | {} | {} | {} | {} |".format(
            r["collective"], label, r["bytes"],
            "{:.1f}".format(nccl) if nccl else "- ({})".format(r.get("note") or "none"),
            "{:.1f}".format(us) if us else "- (plan has no {})".format(name or "such family"),
            "{:.2f}".format(ratio) if ratio else "-"))
    print()
    print("| collective | algorithm | sizes | plan / NCCL: median | range |")
    print("|---|---|---:|---:|---|")
    for (collective, algorithm), values in sorted(ratios.items()):
        print("| {} | {} | {} | {:.2f} | {:.2f} - {:.2f} |".format(collective, algorithm, len(values),
                                                               statistics.median(values), min(values), max(values)))


if __name__ == "__main__":
    main()
