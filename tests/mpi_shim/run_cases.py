#!/usr/bin/env python3
"""libcctune-mpi.so inside a tenant's job must give exactly what the MPI library gives.

Runs shim_cases (tests/mpi_shim/shim_cases.cpp) once with the library alone and once per profile with
the shim preloaded through the env file `cctune export` writes, as a tenant sources it, and compares
every case's receive buffer digest on every rank. Each profile sends every size of every communicator
size (1-5 ranks, one node) to one of our algorithms; the shim's announcements prove they ran. Every
launch runs under a timeout, so a deadlock fails the test instead of hanging it.
"""
import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile

MAX = 18446744073709551615
LAUNCH_TIMEOUT = 180

# Each profile routes byte ranges of each collective to our algorithms; together they cover them all.
# The host profile's rules for communicators of other sizes than 4 are predicted ones.
PROFILES = {
    "host": {
        "allreduce": [(0, 4095, "recursive_doubling"), (4096, 262143, "rabenseifner"), (262144, MAX, "ring")],
        "alltoall": [(0, 1023, "linear"), (1024, 65535, "bruck"), (65536, MAX, "pairwise")],
    },
    "shm": {
        "allreduce": [(0, 16383, "shm_direct"), (16384, MAX, "shm_split")],
        "alltoall": [(0, MAX, "shm")],
    },
}


def profile_json(routes, predicted):
    """The profile is measured at 4 ranks; with `predicted`, its rules for other sizes are marked as
    `cctune plan --add-to` writes them, which the shim must apply as it applies measured ones."""
    rules = []
    for nranks in range(1, 6):
        for collective, ranges in routes.items():
            for low, high, algorithm in ranges:
                rule = {"collective": collective, "backend": "mpi", "nranks": nranks, "nnodes": 1,
                        "min_bytes": low, "max_bytes": high, "choice": {"algorithm": algorithm}}
                if predicted and nranks != 4:
                    rule["predicted"] = [{"bytes": low, "us": 1.0}]
                rules.append(rule)
    return json.dumps({"format": "cctune-profile", "version": 1, "cctune_version": "test",
                       "shape": {"nranks": 4, "nnodes": 1, "ranks_per_node": 4}, "rules": rules})


def launch(args, out_prefix, env_file=None, rank0_profile=None):
    program = [args.cases, out_prefix]
    if rank0_profile is None:
        contexts = ["-np", str(args.ranks), *program]
    else:  # rank 0 started with another profile than the others (a node whose copy is missing)
        # (env rather than mpirun -x, which Open MPI refuses beside the env file's mca_base_env_list)
        contexts = ["-np", "1", "env", f"CCTUNE_PROFILE={rank0_profile}", *program, ":", "-np", str(args.ranks - 1),
                    *program]
    command = shlex.join([args.mpirun, "--oversubscribe", "--bind-to", "none", *contexts])
    script = f"source {shlex.quote(env_file)} && export CCTUNE_MPI_LOG=info && {command}" if env_file else command
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCTUNE") and k != "LD_PRELOAD"}
    if args.only:
        env["SHIM_CASES_ONLY"] = args.only
    # A session of its own, so that a hung job's every process (mpirun and the ranks) can be ended.
    proc = subprocess.Popen(["bash", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=LAUNCH_TIMEOUT)
        proc = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        sys.exit(f"FAIL: {'with ' + env_file if env_file else 'without the shim'}: no end in {LAUNCH_TIMEOUT} s "
                 "(deadlock?)")
    if proc.returncode != 0:
        sys.exit(f"FAIL: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    results = {}
    for rank in range(args.ranks):
        with open(f"{out_prefix}.{rank}") as f:
            for line in f:
                name, rest = line.split(" ", 1)
                results[(rank, name)] = rest.strip()
    return results, proc


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ranks", type=int, required=True)
    parser.add_argument("--cases", required=True, help="the shim_cases program")
    parser.add_argument("--cctune", required=True, help="the cctune executable (exports the env file)")
    parser.add_argument("--mpirun", default="mpirun")
    parser.add_argument("--only", help="run only the cases whose name contains this (to bisect a failure)")
    args = parser.parse_args()

    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        expected, _ = launch(args, os.path.join(tmp, "library"))
        print(f"library alone: {len(expected)} case results on {args.ranks} ranks")
        for name, routes in PROFILES.items():
            folder = os.path.join(tmp, name)
            os.mkdir(folder)
            profile = os.path.join(folder, "profile.json")
            with open(profile, "w") as f:
                f.write(profile_json(routes, predicted=name == "host"))
            exported = subprocess.run([args.cctune, "export", profile], capture_output=True, text=True, timeout=60)
            if exported.returncode != 0:
                sys.exit(f"FAIL: cctune export: {exported.stderr}")
            got, proc = launch(args, os.path.join(tmp, name), os.path.join(folder, "cctune.env"))
            if set(got) != set(expected):
                failures.append(f"{name}: cases differ: {sorted(set(got) ^ set(expected))[:10]}")
            wrong = sorted(key for key in expected if key in got and got[key] != expected[key])
            for rank, case in wrong[:20]:
                failures.append(f"{name}: rank {rank} {case}: library {expected[(rank, case)]}, "
                                f"shim {got[(rank, case)]}")
            if len(wrong) > 20:
                failures.append(f"{name}: ... {len(wrong)} differing results in all")
            # The shim must really have run our algorithms, or the comparison proves nothing.
            ran = {line.rsplit(" ", 1)[-1] for line in proc.stderr.splitlines() if " runs " in line}
            wanted = {algorithm for ranges in routes.values() for _, _, algorithm in ranges}
            if not wanted <= ran and not args.only:
                failures.append(f"{name}: never ran {sorted(wanted - ran)}; stderr:\n{proc.stderr[-3000:]}")
            print(f"profile {name}: {len(got)} case results, ran {sorted(ran)}, {len(wrong)} differ")
        if args.ranks > 1 and not args.only:
            # A rank-local fact never decides a route: with rank 0's profile missing, every rank must
            # leave the job to the library (no hang, the library's bytes), and say why.
            env_file = os.path.join(tmp, "host", "cctune.env")
            got, proc = launch(args, os.path.join(tmp, "rank0"), env_file, rank0_profile="/nonexistent/profile.json")
            wrong = sorted(key for key in expected if got.get(key) != expected[key])
            if wrong:
                failures.append(f"rank 0 without its profile: {len(wrong)} results differ, first {wrong[:5]}")
            # (communicators without rank 0, such as the other half, still agree and run our algorithms)
            if "do not reach the same routes" not in proc.stderr:
                failures.append(f"rank 0 without its profile: the ranks did not say why they left it to the library:\n"
                                f"{proc.stderr[-3000:]}")
            print(f"rank 0 without its profile: {len(got)} case results, {len(wrong)} differ")
    if failures:
        print("FAIL\n" + "\n".join(failures))
        return 1
    print("PASS: every case gives the library's bytes with the shim preloaded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
