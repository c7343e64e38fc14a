"""Faults on a simulated Slurm cluster of N nodes x 1 rank, and `cctune accept` run across it.

Shared by tests/cluster/test_cluster_faults.py (one run of each fault, in the suite) and
scripts/acceptance-trials (many runs of each, for docs/acceptance.md). Every link is throttled to
LINK_RATE so that the links, not this machine's two shared cores, set the pace: a fault is then a known
fraction of a known rate, as on a real fabric.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_cluster  # noqa: E402  (the cluster tests' launcher helpers)

SIMCLUSTER = test_cluster.SIMCLUSTER
LINK_RATE = "400mbit"  # 50 MB/s
SLOW_RATE = "40mbit"   # a tenth
# Calls per check in the runs a node is stopped or lost in (FaultCluster.longer). 300 (about 2.6 s of
# allreduce at LINK_RATE) let a fault that a loaded machine sent late land after the run had ended;
# 3000 leave it no room, and cost nothing: the fault ends the run at -T.
FAULT_ITERATIONS = 3000


class FaultCluster:
    """N simulated nodes x 1 rank under Slurm; `accept` runs with srun across all of them."""

    def __init__(self, name, nodes, cctune, owner=None):
        self.name, self.nodes, self.cctune = name, nodes, cctune
        self.work = "/run/cctune-simcluster-{}/work".format(name)
        self.runs = 0
        up = [SIMCLUSTER, "--name", name, "up", str(nodes), "--ranks-per-node", "1"]
        if owner:
            up += ["--owner", str(owner)]
        proc = test_cluster.run(up, timeout=60)
        if proc.returncode != 0:
            self.down()
            raise RuntimeError("simcluster up failed ({}): {}".format(proc.returncode, proc.stdout + proc.stderr))
        self.simcluster("rate", "all=" + LINK_RATE)
        self.slurm_error = ""
        proc = test_cluster.run([SIMCLUSTER, "--name", name, "slurm", "up"], timeout=120)
        if proc.returncode != 0:
            self.slurm_error = proc.stdout + proc.stderr

    def simcluster(self, *args, timeout=120):
        proc = test_cluster.run([SIMCLUSTER, "--name", self.name, *args], timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError("simcluster {} failed: {}".format(" ".join(args), proc.stdout + proc.stderr))
        return proc.stdout

    def down(self):
        test_cluster.run([SIMCLUSTER, "--name", self.name, "down"], timeout=60)

    def throttle(self, *slow):
        """Every link at LINK_RATE, those of `slow` at SLOW_RATE."""
        self.simcluster("rate", "all=" + LINK_RATE, *("{}={}".format(n, SLOW_RATE) for n in slow))

    def restart_slurm(self):
        """After a lost node: Slurm again from scratch, the node back as a repaired one."""
        self.simcluster("slurm", "down")
        self.simcluster("slurm", "up")

    def scontrol(self, *args):
        return self.simcluster("slurm", "run", "--", "scontrol", *args)

    def sinfo(self, *args):
        return self.simcluster("slurm", "run", "--", "sinfo", *args)

    def longer(self, spec, iterations):
        """A copy of `spec` (in the shared work folder) whose checks run `iterations` calls, so that a fault
        sent once the run has started lands inside a collective check rather than after the run."""
        with open(spec) as f:
            text = f.read()
        text, count = re.subn(r"(?m)^(\s*iterations:\s*)\d+", r"\g<1>{}".format(iterations), text)
        if count != 1:
            raise RuntimeError("{}: no single `iterations:` line".format(spec))
        path = os.path.join(self.work, "{}-x{}.yaml".format(os.path.splitext(os.path.basename(spec))[0], iterations))
        with open(path, "w") as f:
            f.write(text)
        return path

    def srun_accept(self, spec, label, timeout_s=60, extra=()):
        """The srun command line of one accept run, and where its verdicts and drain list go."""
        self.runs += 1
        stem = os.path.join(self.work, "{}-{}".format(label, self.runs))
        paths = {"json": stem + ".json", "junit": stem + ".xml", "drain": stem + ".drain"}
        command = [SIMCLUSTER, "--name", self.name, "slurm", "run", "--", "srun", "-N", str(self.nodes),
                   "-n", str(self.nodes), "--distribution=block", "--kill-on-bad-exit=1", self.cctune, "accept", "--spec", spec,
                   "--json", paths["json"], "--junit", paths["junit"], "--drain-list", paths["drain"],
                   "-T", "{:g}".format(timeout_s), *extra]
        return command, paths

    def accept(self, spec, label, timeout_s=60, wall=600):
        """One accept run to its end: (Run)."""
        for attempt in range(2):
            command, paths = self.srun_accept(spec, label, timeout_s)
            start = time.monotonic()
            proc = test_cluster.run(command, timeout=wall)
            seconds = time.monotonic() - start
            if not test_cluster.open_mpi_init_crash(proc) or attempt:
                return Run(proc.returncode, proc.stdout, proc.stderr, paths, seconds)
            print("faults: a rank crashed inside MPI_Init (Open MPI's TCP BTL race); launching again",
                  file=sys.stderr)

    def accept_with(self, spec, label, node, how, timeout_s=10, wall=300):
        """One accept run during which `node` is stopped (how="stop": its cctune gets SIGSTOP) or lost
        (how="lose": every process on it, slurmd and slurmstepd too, gets SIGKILL), once the verdict file
        says the run has started. Returns (Run, seconds from the fault to a RANK_HUNG verdict on disk)."""
        run, to_verdict = self.accept_with_once(spec, label, node, how, timeout_s, wall)
        if to_verdict is None and test_cluster.open_mpi_init_crash(run):
            print("faults: a rank crashed inside MPI_Init (Open MPI's TCP BTL race); launching again", file=sys.stderr)
            run, to_verdict = self.accept_with_once(spec, label, node, how, timeout_s, wall)
        return run, to_verdict

    def accept_with_once(self, spec, label, node, how, timeout_s, wall):
        command, paths = self.srun_accept(spec, label, timeout_s)
        start = time.monotonic()
        stacks = ""
        # Files, not pipes: a lost node's neighbours print pages of Open MPI warnings, and a pipe nobody
        # reads while waiting would stop the job on a full buffer.
        out_path, err_path = paths["json"][:-5] + ".out", paths["json"][:-5] + ".err"
        with open(out_path, "w") as out, open(err_path, "w") as err:
            job = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
        try:
            fault_at = hung_at = None
            deadline = start + wall
            while time.monotonic() < deadline:
                if fault_at is None and os.path.exists(paths["json"]):
                    fault_at = time.monotonic()  # before the signal: the time to the verdict is not understated
                    # No verdict a minute past the timeout is a failure already: stop there, not at the wall.
                    deadline = min(deadline, fault_at + timeout_s + 60)
                    if how == "stop":
                        self.simcluster("signal", node, "STOP", "--command", os.path.basename(self.cctune))
                    else:
                        self.simcluster("signal", node, "KILL")
                if fault_at is not None and hung_at is None and "RANK_HUNG" in read_text(paths["json"]):
                    hung_at = time.monotonic()
                if job.poll() is not None:
                    break
                time.sleep(0.1)
            else:
                stacks = self.stacks()  # what held the run, for the failure message: the job is killed next
                os.killpg(job.pid, signal.SIGKILL)
            job.wait(timeout=60)
        finally:
            if job.poll() is None:
                os.killpg(job.pid, signal.SIGKILL)
                job.wait()
            if how == "stop":  # what the watchdog's abort left stopped
                test_cluster.run([SIMCLUSTER, "--name", self.name, "signal", node, "KILL", "--command",
                                  os.path.basename(self.cctune)], timeout=60)
        if hung_at is None and "RANK_HUNG" in read_text(paths["json"]):
            hung_at = time.monotonic()
        run = Run(job.returncode, read_text(out_path), read_text(err_path) + stacks, paths, time.monotonic() - start)
        if fault_at is not None and hung_at is None and (run.doc or {}).get("complete"):
            run.stderr += "faults: the run had ended before the fault ({}) reached {} (its verdict file is complete)\n".format(
                how, node)
        return run, (hung_at - fault_at) if hung_at is not None and fault_at is not None else None

    def stacks(self):
        """Every thread's stack of each cctune process still running (on every node: the nodes share this
        machine's process table), so that a run that outlived its wall time says where it waited."""
        proc = subprocess.run(["pgrep", "-f", "^" + re.escape(self.cctune) + " accept "], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
        text = ""
        for pid in proc.stdout.split():
            try:
                gdb = subprocess.run(["gdb", "-p", pid, "-batch", "-nx", "-ex", "set print frame-arguments none",
                                      "-ex", "thread apply all bt 25"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
                out = gdb.stdout
            except (OSError, subprocess.TimeoutExpired) as e:
                out = str(e)
            frames = "\n".join(line for line in out.splitlines() if line.startswith(("#", "Thread ")))
            text += "\n--- stacks of cctune pid {} ---\n{}\n".format(pid, frames)
        return text


def read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


class Run:
    def __init__(self, returncode, stdout, stderr, paths, seconds):
        self.returncode, self.stdout, self.stderr, self.paths, self.seconds = returncode, stdout, stderr, paths, seconds
        text = read_text(paths["json"])
        self.doc = json.loads(text) if text else None
        self.drain = read_text(paths["drain"])

    def named(self):
        """The hosts the drain list names (what an operator takes out of service)."""
        return sorted(line.split("\t")[0] for line in self.drain.splitlines() if line.strip())

    def failures(self):
        return [v for v in (self.doc or {}).get("verdicts", []) if v["status"] == "FAIL"]

    def isolation(self):
        return (self.doc or {}).get("isolation", [])

    def output(self):
        return "exit {}\n{}{}".format(self.returncode, self.stdout, self.stderr)
