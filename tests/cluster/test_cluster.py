"""cctune across simulated nodes (tests/cluster/simcluster): what single-node runs cannot show.

Needs root (network namespaces); elsewhere every test here is skipped with one line. Each class brings
its cluster up once and takes it down in a class cleanup (run also when its set-up fails), and a failed
`up` takes down what it made;
clusters that killed runs of these tests left behind are removed first (`down --stale`).
"""
import json
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SIMCLUSTER = os.path.join(HERE, "simcluster")
CCTUNE = os.path.realpath(os.environ.get("CCTUNE", "cctune"))
FIXTURES = os.environ.get("CCTUNE_FIXTURES", os.path.join(HERE, "..", "..", "..", "shared", "fixtures", "topology"))
G4DN = os.path.join(FIXTURES, "hwloc-aws-g4dn-metal-8xT4-efa.xml")
SKIPPED = 77
# Small and quick: the point is correctness across nodes, not bandwidth.
BENCH = ["bench", "--algorithm", "all", "--collective", "allreduce,alltoall", "-b", "8", "-e", "64K", "-f", "8",
         "-n", "2", "-w", "1", "-c", "1", "--no-db", "--no-progress", "-T", "60"]


def run(command, timeout=300):
    return subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)


def open_mpi_init_crash(proc):
    """A rank that died of a NULL call inside MPI_Init under srun, before cctune said anything.

    Open MPI 4.1.4 (Debian's), direct-launched by srun with PMIx: about one launch in ten here, one rank
    segfaults calling a NULL callback from mca_btl_tcp.so inside opal_progress inside ompi_mpi_init (seen
    in core files of cctune and of tests/mpi_shim/shim_client.cpp, a plain MPI program alike): a peer's
    TCP connection arrives before the BTL has added that peer (open-mpi/ompi#3035 describes the race).
    Only that exact case: any output of cctune's, or any other failure, is left to the test.
    """
    return (proc.returncode != 0 and not proc.stdout.strip() and "Segmentation fault" in proc.stderr
            and "Failing at address: (nil)" in proc.stderr and not cctune_lines(proc.stderr))


def open_mpi_init_crash_in_log(log, done=None):
    """open_mpi_init_crash in a batch job's log: a step died of the NULL call and cctune said no error
    about it (nor `done`, a line the script prints once the run it launched has ended)."""
    return ("Segmentation fault" in log and "Failing at address: (nil)" in log
            and not any(line.startswith("cctune: error") for line in log.splitlines())
            and (done is None or done not in log))


def cctune_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("cctune")]


class Cluster:
    """One simulated cluster, named after this test process so that a killed run's is found as stale."""

    def __init__(self, label, nodes, ranks, *options):
        self.name = "t{}_{}".format(os.getpid(), label)
        self.ranks = ranks
        self.nodes = nodes
        proc = run([SIMCLUSTER, "--name", self.name, "up", str(nodes), "--ranks-per-node", ranks,
                    "--owner", str(os.getpid()), *options], timeout=60)
        if proc.returncode == SKIPPED:
            raise unittest.SkipTest(proc.stdout.strip())
        if proc.returncode != 0:
            self.down()
            raise AssertionError("simcluster up failed: " + proc.stdout + proc.stderr)
        self.work = "/run/cctune-simcluster-{}/work".format(self.name)  # seen by every node, as a shared home

    def mpirun(self, *args, timeout=300):
        return run([SIMCLUSTER, "--name", self.name, "mpirun", "--", CCTUNE, *args], timeout=timeout)

    def srun(self, *args, timeout=300):
        total = sum(int(r) for r in self.ranks.split(",")) * (self.nodes if "," not in self.ranks else 1)
        command = [SIMCLUSTER, "--name", self.name, "slurm", "run", "--", "srun", "-N", str(self.nodes), "-n",
                   str(total), "--distribution=block", "--kill-on-bad-exit=1", CCTUNE, *args]
        proc = run(command, timeout=timeout)
        if open_mpi_init_crash(proc):
            # Open MPI 4.1.4's TCP BTL, not cctune: see open_mpi_init_crash. Once more, said on stderr.
            print("test_cluster: srun: a rank crashed inside MPI_Init (Open MPI's TCP BTL race); launching again",
                  file=sys.stderr)
            proc = run(command, timeout=timeout)
        return proc

    def down(self):
        run([SIMCLUSTER, "--name", self.name, "down"], timeout=60)


def setUpModule():
    run([SIMCLUSTER, "down", "--stale"], timeout=60)


class ClusterCase(unittest.TestCase):
    NODES, RANKS, OPTIONS = 0, "", ()
    cluster = None

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(cls.__name__.lower(), cls.NODES, cls.RANKS, *cls.OPTIONS)
        # Unlike tearDownClass, a class cleanup also runs when the rest of setUpClass fails.
        cls.addClassCleanup(cls.cluster.down)

    def bench(self, dtype, *extra, launcher="mpirun"):
        path = os.path.join(self.cluster.work, "bench-{}-{}.json".format(launcher, dtype))
        proc = getattr(self.cluster, launcher)(*BENCH, "-d", dtype, *extra, "-J", path)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        with open(path) as f:
            doc = json.load(f)
        return proc, doc

    def check_bench(self, dtype, *extra, launcher="mpirun"):
        ranks = [int(r) for r in self.RANKS.split(",")]
        ranks = ranks * self.NODES if len(ranks) == 1 else ranks
        proc, doc = self.bench(dtype, *extra, launcher=launcher)
        self.assertIn("{} ranks on {} node(s)".format(sum(ranks), self.NODES), proc.stdout)
        self.assertEqual(doc["cctune"]["nnodes"], self.NODES)
        self.assertEqual(sorted(doc["cctune"]["ranks_per_node"]), sorted(ranks))
        self.assertEqual(sorted(set(doc["cctune"]["hosts"])), ["node{}".format(i) for i in range(1, self.NODES + 1)])
        skipped = [line for line in cctune_lines(proc.stderr) if "shared memory needs every rank on one node" in line]
        self.assertEqual(len(skipped), 1, proc.stderr)
        self.assertIn("this run spans {} nodes".format(self.NODES), skipped[0])
        self.assertIn("shm", skipped[0])
        rows = [dict(row, **row["cctune"]) for row in doc["results"]]  # ours: collective, algorithm, checks
        self.assertEqual({row["collective"] for row in rows}, {"allreduce", "alltoall"})
        self.assertFalse([row["algorithm"] for row in rows if row["algorithm"].startswith("shm")],
                         "a one-node-only algorithm ran across nodes")
        for row in rows:
            for placement in ("out_of_place", "in_place"):
                result = row[placement]
                self.assertEqual(result["nwrong"], 0, "{} {} {} {} B {}".format(
                    row["collective"], row["algorithm"], row["type"], row["size"], placement))
        self.assertGreater(len(rows), 4)
        return doc


class FourNodesTwoRanks(ClusterCase):
    NODES, RANKS = 4, "2"
    OPTIONS = ("--topology", "node3=" + G4DN)

    def test_bench_every_algorithm_float_sum(self):
        self.check_bench("float", "-o", "sum")

    def test_bench_every_algorithm_int32_max(self):
        self.check_bench("int32", "-o", "max")

    def test_topo_names_the_node_with_other_hardware(self):
        path = os.path.join(self.cluster.work, "topo.json")
        proc = self.cluster.mpirun("topo", "--json", path)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("4 nodes, 8 ranks (ranks per node: 2, 2, 2, 2)", proc.stdout)
        self.assertIn("HETEROGENEOUS: 2 node types.", proc.stdout)
        self.assertIn("(1 node: node3)", proc.stdout)
        self.assertRegex(proc.stdout, r"\(3 nodes: node1 node2 node4\)")
        with open(path) as f:
            view = json.load(f)
        self.assertFalse(view["homogeneous"])
        self.assertEqual(len(view["node_types"]), 2)
        gpus = sorted(len(t["model"]["gpus"]) for t in view["node_types"])
        self.assertEqual(gpus, [0, 8])  # the g4dn's eight T4s, seen on node3 only


class ThreeUnevenNodes(ClusterCase):
    NODES, RANKS = 3, "1,2,3"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        proc = run([SIMCLUSTER, "--name", cls.cluster.name, "slurm", "up"], timeout=120)
        cls.slurm = proc.returncode == 0
        cls.slurm_error = proc.stdout + proc.stderr

    def test_bench_under_srun_with_pmix(self):
        if not self.slurm and "is not installed" in self.slurm_error:
            self.skipTest(self.slurm_error.strip())
        self.assertTrue(self.slurm, self.slurm_error)
        self.check_bench("float", "-o", "min", launcher="srun")

    def test_bench_every_algorithm_double_sum(self):
        self.check_bench("double", "-o", "sum")

    def test_bench_every_algorithm_half_max(self):
        self.check_bench("half", "-o", "max")

    def test_mpi_comm_type_shared_splits_by_node(self):
        path = os.path.join(self.cluster.work, "topo.json")
        proc = self.cluster.mpirun("topo", "--json", path)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("3 nodes, 6 ranks (ranks per node: 1, 2, 3, UNEVEN)", proc.stdout)
        with open(path) as f:
            view = json.load(f)
        hosts = {}
        for r in view["rank_placement"]:
            hosts.setdefault(r["host"], []).append(r["local_rank"])
        self.assertEqual(hosts, {"node1": [0], "node2": [0, 1], "node3": [0, 1, 2]})


def main():
    """Both cluster test files start here. ctest reads exit 77 as skipped: where no cluster can be made,
    say why in one line and stop."""
    probe = run([SIMCLUSTER, "check"], timeout=60)
    if probe.returncode != 0:
        print(probe.stdout.strip() or probe.stderr.strip())
        raise SystemExit(probe.returncode)
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()
