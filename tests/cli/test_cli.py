"""cctune driven the way users drive it: through mpirun, reading back what it writes."""
import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import unittest

CCTUNE = os.environ.get("CCTUNE", "cctune")
MPIRUN = os.environ.get("MPIRUN", "mpirun")
SHIM_CLIENT = os.environ.get("SHIM_CLIENT", "cctune_shim_client")


def mpirun(ranks, *args):
    return [MPIRUN, "--oversubscribe", "--bind-to", "none", "-np", str(ranks), CCTUNE, *args]


def run(command, timeout=300, **kwargs):
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              **kwargs)
    except subprocess.TimeoutExpired as e:
        # What it printed before it hung is where it hung: a failure that names only the timeout is lost.
        def text(out):
            return out.decode(errors="replace") if isinstance(out, bytes) else (out or "")
        raise AssertionError(f"{shlex.join(map(str, command))} did not end within {timeout} s; it printed:\n"
                             f"{text(e.stdout)}{text(e.stderr)}") from None


def built_backends():
    """The backends this cctune was built with, as `bench --list` names them."""
    listing = run([CCTUNE, "bench", "--list"], timeout=30).stdout
    return set(re.findall(r"^backend (\w+):", listing, re.M))


def cctune_lines(stderr):
    """Lines cctune itself printed (mpirun adds banners of its own around a failed job)."""
    return [line for line in stderr.splitlines() if line.startswith("cctune")]


# An all_reduce_perf log of 2 ranks on 2 hosts, written by tests/fixtures/nccl-tests/make_fixtures.py.
NCCL_TESTS_LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "nccl-tests",
                              "v2_19_allreduce.txt")


def snapshot(path):
    """A file's bytes, and which SQLite side files lie beside it: what 'left as it was' means."""
    with open(path, "rb") as f:
        data = f.read()
    return data, [side for side in ("-wal", "-shm", "-journal") if os.path.exists(path + side)]


def foreign_database(path):
    """Another program's SQLite file, in the default rollback-journal mode."""
    import sqlite3
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users(name TEXT)")
    db.execute("INSERT INTO users VALUES ('ada')")
    db.commit()
    db.close()


def as_unprivileged(command):
    """The command as a user who may read but not write what root made (root ignores permissions)."""
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]


def tables(stdout):
    """The nccl-tests style tables in the text output: {(collective, algorithm): [row fields]}."""
    result, current = {}, None
    for line in stdout.splitlines():
        match = re.match(r"# Collective test starting: (\S+)_perf \(cctune backend \S+ algorithm (\S+)\)", line)
        if match:
            current = ({"all_reduce": "allreduce"}.get(match.group(1), match.group(1)), match.group(2))
            result[current] = []
        elif line.startswith("# Collective test concluded"):
            current = None
        elif current and line.strip() and not line.startswith("#"):
            result[current].append(line.split())
    return result


class Tmpfs:
    """A tmpfs of `size` mounted on a new folder (root only: the tests skip themselves otherwise)."""

    def __init__(self, test, size="64k", read_only=False):
        if os.geteuid() != 0:
            test.skipTest("mounting a tmpfs needs root")
        self.path = tempfile.mkdtemp(prefix="cctune-tmpfs-")
        options = f"size={size}" + (",ro" if read_only else "")
        proc = run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", self.path], timeout=30)
        if proc.returncode != 0:
            os.rmdir(self.path)
            test.skipTest("cannot mount a tmpfs here: " + proc.stderr.strip())
        test.addCleanup(self.close)

    def fill(self):
        """Fills it to the last byte, so that the next write fails with ENOSPC."""
        fd = os.open(os.path.join(self.path, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"x" * 512) > 0:
                pass
        except OSError:
            pass
        finally:
            os.close(fd)

    def close(self):
        run(["umount", self.path], timeout=30)
        os.rmdir(self.path)


def run_into_dev_full(command, timeout=120):
    """The command with its stdout on /dev/full, where every write fails as on a full disk."""
    with open("/dev/full", "w") as full:
        return subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)


class BenchJson(unittest.TestCase):
    def test_every_algorithm_gets_a_verified_table_and_json_rows(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "out.json")
            proc = run(mpirun(4, "bench", "-b", "8", "-e", "256K", "-f", "4", "--collective", "all", "--algorithm", "all",
                              "-c", "1", "-n", "3", "-w", "1", "-J", path))
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(path) as f:
                doc = json.load(f)
        sizes = [8 * 4**k for k in range(8)]  # 8 B .. 128 KiB
        found = tables(proc.stdout)
        self.assertEqual(len(found), 21, proc.stdout)  # 6 + 6 ompi:N allreduce, 5 + 4 ompi:N alltoall
        for (collective, algorithm), rows in found.items():
            self.assertEqual(len(rows), len(sizes), (collective, algorithm))
            for fields in rows:
                self.assertEqual(fields[8], "0")   # out-of-place #wrong
                # in-place #wrong; nccl-tests does not check in-place alltoall, and says N/A
                self.assertEqual(fields[12], "N/A" if collective == "alltoall" else "0")
        self.assertEqual(proc.stdout.count("# Out of bounds values : 0 OK"), 21)
        # nccl-tests' schema, ours under "cctune".
        self.assertEqual(doc["version"], 3)
        self.assertTrue(doc["cctune"]["complete"])
        self.assertEqual(doc["out_of_bounds"], {"count": 0, "okay": "true"})
        self.assertEqual(len(doc["config"]["devices"]), 4)
        self.assertEqual(doc["cctune"]["nranks"], 4)
        self.assertEqual(doc["cctune"]["ranks_per_node"], [4])
        self.assertIn("Open MPI", doc["cctune"]["mpi_library"])
        rows = doc["results"]
        self.assertEqual(len(rows), 21 * len(sizes))
        for algorithm in ("mpi", "ring", "recursive_doubling", "rabenseifner"):
            mine = [r for r in rows if r["cctune"]["collective"] == "allreduce" and r["cctune"]["algorithm"] == algorithm]
            self.assertEqual([r["cctune"]["requested_size"] for r in mine], sizes)
        for row in rows:
            alltoall = row["cctune"]["collective"] == "alltoall"
            for placement in ("out_of_place", "in_place"):
                p, ours = row[placement], row["cctune"][placement]
                # nccl-tests leaves in-place alltoall unchecked (null); ours is checked all the same.
                self.assertEqual(p["nwrong"], None if alltoall and placement == "in_place" else 0)
                self.assertEqual(ours["nwrong"], 0)
                self.assertEqual(len(ours["times_us"]), 3)
                self.assertLessEqual(ours["min_us"], ours["median_us"])
                self.assertLessEqual(ours["median_us"], ours["p99_us"])
                if row["size"] > 0:
                    self.assertAlmostEqual(p["alg_bw"], row["size"] / (p["time"] * 1e-6) / 1e9, places=6)

    def test_an_nccl_tests_command_line_runs_and_prints_its_layout(self):
        # nccl-tests' README: `mpirun -np 64 -N 8 ./build/all_reduce_perf -b 8 -e 8G -f 2 -g 1`, here
        # on 4 ranks and up to 1 MiB.
        proc = run(mpirun(4, "bench", "--collective", "allreduce", "-b", "8", "-e", "1M", "-f", "2", "-g", "1", "-n", "3",
                          "-w", "1", "--no-db", "--no-progress"))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = proc.stdout.splitlines()
        self.assertIn("# Collective test starting: all_reduce_perf (cctune backend mpi algorithm mpi)", lines)
        # nccl-tests' header, then ours: %SOL, the busbw against this machine's speed of light.
        self.assertIn("#       size         count      type   redop    root     time   algbw   busbw  #wrong     time   "
                      "algbw   busbw  #wrong    %SOL ", lines)
        rows = [line for line in lines if line and not line.startswith("#")]
        self.assertEqual([int(r.split()[0]) for r in rows], [8 << k for k in range(18)])
        for row in rows:
            self.assertEqual(len(row), 118 + 8, row)
            self.assertEqual(len(row.split()), 14, row)
            self.assertGreater(float(row.split()[13]), 0, row)
        self.assertEqual(proc.stdout.count("# Avg bus bandwidth    : "), 1)
        self.assertIn("# Collective test concluded: all_reduce_perf", lines)
        # One process driving several GPUs is not how cctune runs: one line saying what to do.
        proc = run(mpirun(1, "bench", "-b", "8", "-e", "128M", "-f", "2", "-g", "8"))
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("-g 8: cctune drives one device per process; launch one rank per GPU", proc.stderr)

    def test_every_type_and_op_in_one_table_on_misaligned_buffers_is_right(self):
        # nccl-tests' -d all -o all, and -u 3: buffers 3 elements past an aligned address.
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "all.json")
            proc = run(mpirun(3, "bench", "--collective", "all", "--algorithm", "mpi,ring,pairwise", "-d", "all", "-o", "all",
                              "-u", "3", "-b", "8", "-e", "4K", "-f", "8", "-n", "2", "-w", "1", "-c", "1", "--no-db",
                              "--no-progress", "-J", path))
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn(" unalign: 3\n", proc.stdout)
            with open(path) as f:
                rows = json.load(f)["results"]
        types = {"float", "double", "int32", "half", "bfloat16"}
        pairs = {(r["cctune"]["collective"], r["cctune"]["algorithm"], r["type"], r["redop"]) for r in rows}
        for algorithm in ("mpi", "ring"):
            expected = {("allreduce", algorithm, t, op) for t in types for op in ("sum", "max", "min", "avg")}
            expected.discard(("allreduce", algorithm, "int32", "avg"))
            self.assertEqual({p for p in pairs if p[:2] == ("allreduce", algorithm)}, expected)
        for algorithm in ("mpi", "pairwise"):
            self.assertEqual({p for p in pairs if p[:2] == ("alltoall", algorithm)},
                             {("alltoall", algorithm, t, "none") for t in types})
        for row in rows:
            for placement in ("out_of_place", "in_place"):
                self.assertEqual(row["cctune"][placement]["nwrong"], 0, (row["type"], row["redop"], row["size"]))
        # One table per algorithm: the type and redop columns tell the rows apart.
        self.assertEqual(proc.stdout.count("# Collective test starting:"), 4)

    def test_run_cycles_repeat_the_table_and_zero_runs_until_interrupted(self):
        proc = run(mpirun(2, "bench", "-b", "8", "-e", "64", "-f", "2", "-N", "2", "-n", "2", "-w", "0", "--no-db",
                          "--no-progress"))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        rows = [int(line.split()[0]) for line in proc.stdout.splitlines() if line and not line.startswith("#")]
        self.assertEqual(rows, [8, 16, 32, 64] * 2)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "cycles.json")
            child = subprocess.Popen([CCTUNE, "bench", "-b", "8", "-e", "8", "-N", "0", "-n", "1", "-w", "0", "--no-db",
                                      "--no-progress", "-J", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, stdin=subprocess.DEVNULL)
            try:
                seen = 0
                while seen < 3:  # a few cycles' rows, then Ctrl-C
                    line = child.stdout.readline()
                    self.assertTrue(line, "bench ended before it was interrupted")
                    seen += line.startswith("           8")
                child.send_signal(signal.SIGINT)
                out, err = child.communicate(timeout=60)
            finally:
                child.kill()
            self.assertEqual(child.returncode, 0, err)
            self.assertIn("# Out of bounds values : 0 OK", out)
            self.assertIn("# Collective test concluded: all_reduce_perf", out)
            with open(path) as f:
                document = json.load(f)
            self.assertTrue(document["cctune"]["complete"])
            self.assertGreaterEqual(len(document["results"]), 3)

    def test_non_power_of_two_ranks_half_precision_and_avg(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "out.json")
            proc = run(mpirun(3, "bench", "--collective", "allreduce", "-b", "6", "-e", "96K", "-f", "8",
                              "-d", "bfloat16", "-o", "avg", "-n", "2", "-w", "0", "-c", "2", "-J", path))
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(path) as f:
                doc = json.load(f)
        self.assertEqual({r["type"] for r in doc["results"]}, {"bfloat16"})
        self.assertEqual({r["redop"] for r in doc["results"]}, {"avg"})
        self.assertEqual(doc["results"][0]["size"], 6)
        self.assertTrue(all(r["out_of_place"]["nwrong"] == 0 for r in doc["results"]))

    def test_list_names_every_algorithm_with_a_description(self):
        proc = run([CCTUNE, "bench", "--list"])
        self.assertEqual(proc.returncode, 0)
        for name in ("ring", "recursive_doubling", "rabenseifner", "pairwise", "bruck", "linear"):
            self.assertRegex(proc.stdout, rf"\b{name}\s+\S+")


    def test_item11_full_disk_keeps_the_last_complete_json_and_exits_non_zero(self):
        tmpfs = Tmpfs(self, size="64k")
        disk = tmpfs.path
        path = os.path.join(disk, "run.json")
        args = ["bench", "--collective", "allreduce", "--algorithm", "ring", "-n", "2", "-w", "0", "--no-db"]
        proc = run([CCTUNE, *args, "-b", "8", "-e", "64", "-J", path], timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(path, "rb") as f:
            previous = f.read()
        self.assertTrue(json.loads(previous)["cctune"]["complete"])
        tmpfs.fill()
        # As nccl-tests, -J never overwrites: this run writes run.json.0, and the disk is full.
        path0 = path + ".0"
        proc = run([CCTUNE, *args, "-b", "8", "-e", "1K", "-J", path], timeout=60)
        self.assertNotEqual(proc.returncode, 0, proc.stderr)
        lines = cctune_lines(proc.stderr)
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertIn(f"cannot write '{path0}'", lines[0])
        self.assertIn("keeps the last version written whole", lines[0])
        with open(path, "rb") as f:
            self.assertEqual(f.read(), previous)  # intact, and still parses
        self.assertEqual(sorted(os.listdir(disk)), ["filler", "run.json"])  # no temporary left (item 16)
        # With room for a few rows only, the file holds this run's last whole version.
        os.truncate(os.path.join(disk, "filler"), 64 * 1024 - 20 * 1024)
        proc = run([CCTUNE, *args, "-b", "8", "-e", "1M", "-J", path], timeout=60)
        self.assertNotEqual(proc.returncode, 0, proc.stderr)
        with open(path0) as f:
            doc = json.load(f)
        self.assertFalse(doc["cctune"]["complete"])
        self.assertGreater(len(doc["results"]), 0)
        self.assertLess(len(doc["results"]), 18)
        self.assertEqual(sorted(os.listdir(disk)), ["filler", "run.json", "run.json.0"])

    def test_item11_a_table_lost_on_a_full_stdout_fails_with_one_line(self):
        proc = run_into_dev_full([CCTUNE, "bench", "--collective", "allreduce", "--algorithm", "ring", "-b", "8",
                                  "-e", "64", "-n", "1", "--no-db"])
        self.assertEqual(proc.returncode, 1, proc.stderr)
        lines = cctune_lines(proc.stderr)
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertIn("cannot write to standard output", lines[0])

    def test_item12_a_database_that_cannot_open_leaves_an_existing_json_untouched(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "previous.json")
            with open(path, "w") as f:
                f.write('{"kept": true}')
            proc = run([CCTUNE, "bench", "-b", "8", "-e", "8", "-n", "1", "-J", path, "--db", tmp], timeout=60)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertEqual(len(cctune_lines(proc.stderr)), 1, proc.stderr)
            with open(path) as f:
                self.assertEqual(f.read(), '{"kept": true}')


class BadInput(unittest.TestCase):
    CASES = [
        (["--algorithm", "nope"], "unknown algorithm 'nope'"),
        (["-d", "float8"], "unknown dtype 'float8'"),
        (["-o", "prod"], "unknown reduction op 'prod'"),
        (["--collective", "broadcast"], "unknown collective 'broadcast'"),
        (["-b", "1M", "-e", "1K"], "larger than maximum"),
        (["-f", "1"], "-f 1"),
        (["-e", "99999999999999G"], "overflows"),
        (["-e", "16G"], "MPI count"),
        (["-b", "2"], "smaller than one float element"),
        (["-d", "int32", "-o", "avg"], "avg is not supported for int32"),
        (["-n", "0"], "-n 0"),
        (["--rounds", "0"], "--rounds 0"),
        (["-n", "4", "--rounds", "5"], "--rounds 5 must be between 1 and -n (4)"),
        (["-n", "abc"], "abc"),
        (["-a", "9"], "-a 9"),
        (["--frobnicate"], "frobnicate"),
        (["-T", "-1"], "-T"),
    ]

    def assert_one_clear_line(self, proc, expected):
        lines = cctune_lines(proc.stderr)
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertTrue(lines[0].startswith("cctune: error: "), lines[0])
        self.assertIn(expected, lines[0])
        for noise in ("terminate called", "Traceback", "Segmentation", "core dumped"):
            self.assertNotIn(noise, proc.stderr)

    @staticmethod
    def gpu_cases():
        """What --backend nccl|cuda answer depends on the build, and on whether this machine has a GPU."""
        built = built_backends()
        if "nccl" not in built:
            return [(["--backend", "nccl"], "built without"), (["--backend", "cuda"], "built without")]
        return [
            (["--backend", "cuda", "-d", "double"], "reduce float, half and bfloat16"),
            (["--backend", "nccl", "-o", "avg"], "sum, max and min"),
            (["--backend", "nccl", "--inject-delay", "0:0.1"], "--backend mpi only"),
        ]

    def test_each_bad_input_gives_one_line_exit_2_and_no_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "out.json")
            for args, expected in self.CASES + self.gpu_cases():
                with self.subTest(args=args):
                    proc = run([CCTUNE, "bench", *args, "-J", path], timeout=30)
                    self.assertEqual(proc.returncode, 2, proc.stderr)
                    self.assert_one_clear_line(proc, expected)
                    self.assertFalse(os.path.exists(path))
                    self.assertEqual(proc.stdout, "")

    def test_bad_input_under_mpirun_speaks_once_and_keeps_an_existing_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "previous.json")
            with open(path, "w") as f:
                f.write('{"kept": true}')
            start = time.monotonic()
            proc = run(mpirun(4, "bench", "--algorithm", "ringg", "-J", path), timeout=60)
            self.assertNotEqual(proc.returncode, 0)
            self.assert_one_clear_line(proc, "unknown algorithm 'ringg'")
            self.assertLess(time.monotonic() - start, 30)
            with open(path) as f:
                self.assertEqual(f.read(), '{"kept": true}')

    def test_item21_whole_number_options_are_range_checked_as_the_numbers_they_are(self):
        cases = [
            (["-f", "-2"], "-f -2 is out of range (2 to 1048576)"),
            (["-f", "0"], "-f 0 is out of range (2 to 1048576)"),
            (["-n", "99999999999"], "-n 99999999999 is out of range (1 to 100000000)"),
            (["-w", "-1"], "-w -1 is out of range (0 to 100000000)"),
            (["-c", "1e3"], "-c '1e3' is not a whole number (0 to 100000000)"),
            (["--seed", "-1"], "--seed '-1' is not a whole number (0 to 18446744073709551615)"),
            (["-a", "4294967296"], "-a 4294967296 is out of range (0 to 3)"),
        ]
        for command in ("bench", "tune"):
            for args, expected in cases if command == "bench" else cases[:2]:
                with self.subTest(command=command, args=args):
                    proc = run([CCTUNE, command, *args], timeout=30)
                    self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
                    self.assert_one_clear_line(proc, expected)

    def test_item15_json_over_the_results_database_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "results.db")
            proc = run([CCTUNE, "bench", "-b", "8", "-e", "8", "-n", "1", "--db", db], timeout=60)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(db, "rb") as f:
                before = f.read()
            proc = run([CCTUNE, "bench", "-J", os.path.join(tmp, ".", "results.db"), "--db", db], timeout=60)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assert_one_clear_line(proc, "name the same file")
            with open(db, "rb") as f:
                self.assertEqual(f.read(), before)

    def test_unwritable_json_and_impossible_injected_rank_fail_before_measuring(self):
        proc = run(mpirun(2, "bench", "-J", "/nonexistent-dir/out.json"), timeout=60)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assert_one_clear_line(proc, "cannot write JSON file '/nonexistent-dir/out.json'")
        self.assertNotIn("size", proc.stdout)
        proc = run(mpirun(2, "bench", "--inject-delay", "5:1"), timeout=60)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assert_one_clear_line(proc, "rank 5, but there are only 2 ranks")


class Watchdog(unittest.TestCase):
    def test_stuck_rank_is_named_and_finished_rows_are_kept(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "out.json")
            start = time.monotonic()
            # Rank 1 sleeps for ten minutes before the first timed call at 16 KiB.
            proc = run(mpirun(3, "bench", "--collective", "allreduce", "--algorithm", "ring", "-b", "1K",
                              "-e", "64K", "-f", "4", "-n", "2", "-w", "0", "-T", "2", "--inject-delay",
                              "1:600:16K", "-J", path), timeout=120)
            elapsed = time.monotonic() - start
            self.assertNotEqual(proc.returncode, 0)
            self.assertLess(elapsed, 60)
            lines = [l for l in cctune_lines(proc.stderr) if "watchdog" in l]
            self.assertEqual(len(lines), 1, proc.stderr)
            self.assertIn("allreduce ring 16384 B", lines[0])
            self.assertRegex(lines[0], r"ranks that had not arrived: 1 \([^)]+\);")
            self.assertNotRegex(lines[0], r"not arrived: .*\b[02] \(")
            with open(path) as f:
                doc = json.load(f)
            self.assertFalse(doc["cctune"]["complete"])
            self.assertEqual([r["size"] for r in doc["results"]], [1024, 4096])
            self.assertEqual(len(doc["errors"]), 1)
            self.assertIn("ranks that had not arrived: 1 (", doc["errors"][0])
            self.assertEqual([int(r[0]) for r in tables(proc.stdout)[("allreduce", "ring")]], [1024, 4096])

    def test_item14_stopped_run_keeps_its_finished_rows_in_the_database(self):
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "results.db")
            proc = run(mpirun(3, "bench", "--collective", "allreduce", "--algorithm", "ring", "-b", "1K",
                              "-e", "64K", "-f", "4", "-n", "2", "-w", "0", "-T", "2", "--inject-delay",
                              "1:600:16K", "--no-progress", "--db", db), timeout=120)
            self.assertNotEqual(proc.returncode, 0)
            self.assertEqual(len([l for l in cctune_lines(proc.stderr) if "watchdog" in l]), 1, proc.stderr)
            listed = run([CCTUNE, "results", "--db", db, "list"])
            self.assertEqual(listed.returncode, 0, listed.stderr)
            rows = [l.split() for l in listed.stdout.splitlines() if not l.startswith("#")]
            self.assertEqual(len(rows), 1, listed.stdout)
            self.assertEqual((rows[0][0], rows[0][2], rows[0][5]), ("1", "bench", "no"))  # complete: no
            shown = run([CCTUNE, "results", "--db", db, "show", "1"])
            self.assertEqual(shown.returncode, 0, shown.stderr)
            self.assertIn("INCOMPLETE", shown.stdout)
            sizes = [(l.split()[3], l.split()[4]) for l in shown.stdout.splitlines() if l.strip().startswith("allreduce")]
            self.assertEqual(sizes, [("1024", "out"), ("1024", "in"), ("4096", "out"), ("4096", "in")])
            record = json.loads(run([CCTUNE, "results", "--db", db, "export", "1"]).stdout)
            self.assertFalse(record["complete"])
            self.assertEqual(record["ended"], "")
            self.assertEqual(len(record["environment"]["errors"]), 1)
            self.assertIn("ranks that had not arrived: 1 (", record["environment"]["errors"][0])

    def test_item6_the_abort_does_not_wait_for_a_locked_database(self):
        import sqlite3
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "results.db")
            # Rank 0 itself stops at 16 KiB; the test holds the database from the second row on, so the
            # watchdog's message cannot be stored: storing it once held the abort back for 30 s.
            proc = subprocess.Popen(mpirun(2, "bench", "--collective", "allreduce", "--algorithm", "ring", "-b", "1K",
                                           "-e", "64K", "-f", "4", "-n", "2", "-w", "0", "-T", "2", "--inject-delay",
                                           "0:600:16K", "--no-progress", "--db", db),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    stdin=subprocess.DEVNULL)
            holder = None
            try:
                deadline = time.monotonic() + 60
                while holder is None and time.monotonic() < deadline and proc.poll() is None:
                    time.sleep(0.05)
                    if not os.path.exists(db):
                        continue
                    reader = sqlite3.connect(db, timeout=5)
                    try:
                        rows = reader.execute("SELECT count(*) FROM measurements").fetchone()[0]
                    except sqlite3.OperationalError:
                        rows = 0
                    reader.close()
                    if rows >= 4:
                        holder = sqlite3.connect(db, isolation_level=None, timeout=10)
                        holder.execute("BEGIN IMMEDIATE")
                self.assertIsNotNone(holder, "the rows before 16 KiB never reached the database")
                held = time.monotonic()
                stdout, stderr = proc.communicate(timeout=120)
                elapsed = time.monotonic() - held
            finally:
                proc.kill()
                if holder is not None:
                    holder.rollback()
                    holder.close()
            self.assertNotEqual(proc.returncode, 0, stdout + stderr)
            self.assertLess(elapsed, 20)  # -T 2 and a second for the message; 30 s more before
            self.assertEqual(len([l for l in cctune_lines(stderr) if l.startswith("cctune: watchdog")]), 1, stderr)
            self.assertEqual(len([l for l in cctune_lines(stderr) if "does not keep the watchdog's message" in l]), 1,
                             stderr)
            record = json.loads(run([CCTUNE, "results", "--db", db, "export", "1"]).stdout)
            self.assertFalse(record["complete"])
            self.assertEqual(len(record["measurements"]), 4)

    def test_no_timeout_when_everything_finishes(self):
        proc = run(mpirun(2, "bench", "--collective", "alltoall", "-b", "1K", "-e", "4K", "-n", "2", "-T", "5"))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertNotIn("watchdog", proc.stderr)


class Progress(unittest.TestCase):
    ARGS = ["bench", "--collective", "allreduce", "--algorithm", "mpi", "-b", "1K", "-e", "4K", "-n", "2"]

    def test_progress_line_on_a_terminal(self):
        for command in ([CCTUNE, *self.ARGS], mpirun(2, *self.ARGS)):
            with self.subTest(launcher=command[0]):
                # script(1) gives the command a pseudo-terminal, as a person's shell would.
                # Bytes, not text: text mode would turn the carriage returns into newlines.
                proc = subprocess.run(["script", "-qefc", shlex.join(command), "/dev/null"], capture_output=True,
                                      timeout=120, stdin=subprocess.DEVNULL)
                screen = proc.stdout.decode()
                self.assertEqual(proc.returncode, 0, screen)
                self.assertIn("\r\x1b[K", screen)
                self.assertRegex(screen, r"\[1/1\] allreduce mpi: \d")

    def test_no_progress_when_output_is_not_a_terminal(self):
        for command in ([CCTUNE, *self.ARGS], mpirun(2, *self.ARGS)):
            with self.subTest(launcher=command[0]):
                proc = subprocess.run(command, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
                output = (proc.stdout + proc.stderr).decode()
                self.assertEqual(proc.returncode, 0, output)
                self.assertNotIn("\x1b[K", output)
                self.assertNotIn("\r", output)


FIXTURES = os.environ.get("CCTUNE_FIXTURES",
                          os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "fixtures", "topology"))


def fixture(name):
    return os.path.join(FIXTURES, name)


class SpeedOfLightAndPlan(unittest.TestCase):
    """topo's speed of light read back from its JSON, and cctune plan's files read back."""
    NDV5 = property(lambda self: os.path.join(FIXTURES, "nccl-azure-ndv5-8xH100-8xIB.xml"))

    def test_topo_json_holds_the_bounds_of_the_file_with_what_it_lacks_given(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "t.json")
            proc = run([CCTUNE, "topo", "--nccl-xml", self.NDV5, "--gpu-model", "H100-SXM5", "--link-gbps", "400",
                        "--json", path])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(path) as f:
                sol = json.load(f)["speed_of_light"]
        self.assertIn("inside a node 450.0 (NVLS 700.0), between nodes 400.4", proc.stdout)
        self.assertEqual(sol["allreduce"]["intra_node_busbw_gbs"], 450.0)
        self.assertAlmostEqual(sol["allreduce"]["nvls_busbw_gbs"], 700.0)
        self.assertAlmostEqual(sol["alltoall"]["inter_node_busbw_gbs"], 400 * 7999 / (8 * 7992))
        self.assertEqual((sol["nodes"], sol["ranks_per_node"]), (1000, 8))

    def test_nccl_estimates_script_sets_plans_own_predictions_beside_nccls(self):
        # What gpu-check writes on a machine of 8 GPUs (tests/gpu/nccl_estimates.cpp), made up here: the
        # script must read it and put plan's number for the same machine and size beside each estimate.
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "nccl_estimates.py")
        sizes = [1024 * 4 ** i for i in range(11)]
        rows = []
        for algorithm in ("nccl", "ring", "tree", "nvls"):
            for b in sizes:
                rows.append({"collective": "allreduce", "algorithm": algorithm, "bytes": b,
                             "estimated_us": None if algorithm == "nvls" else 10.0 + b / 4e5, "note":
                             "NCCL: invalid usage" if algorithm == "nvls" else ""})
        rows += [{"collective": "alltoall", "algorithm": "nccl", "bytes": b, "estimated_us": 5.0 + b / 3e5, "note": ""}
                 for b in sizes]
        with tempfile.TemporaryDirectory() as tmp:
            estimates = os.path.join(tmp, "nccl-estimates.json")
            with open(estimates, "w") as f:
                json.dump({"nccl_version": "2.28.9", "gpus": 8, "device": "NVIDIA H100 80GB HBM3", "dtype": "bfloat16",
                           "rows": rows}, f)
            shutil.copy(self.NDV5, os.path.join(tmp, "nccl-topology.xml"))
            proc = run(["python3", script, "--estimates", estimates, "--cctune", CCTUNE, "--gpu-model", "H100-SXM5"])
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            out = os.path.join(tmp, "plan.json")
            self.assertEqual(run([CCTUNE, "plan", "--topology", self.NDV5, "--gpu-model", "H100-SXM5", "--nodes", "1",
                                  "--ranks-per-node", "8", "-b", "1K", "-e", "1G", "-f", "4", "-J", out]).returncode, 0)
            with open(out) as f:
                plan = {(r["collective"], r["algorithm"], r["bytes"]): r for r in json.load(f)["rows"]}
        table = {}
        for line in proc.stdout.splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) == 6 and cells[2].isdigit():
                table[(cells[0], cells[1].split(" ")[0], int(cells[2]))] = cells
        self.assertEqual(len(table), len(rows), proc.stdout)
        for (collective, nccl_name, plan_name) in (("allreduce", "ring", "ring"), ("alltoall", "nccl", "p2p")):
            for b in sizes:
                cells = table[(collective, nccl_name, b)]
                predicted = plan[(collective, plan_name, b)]["predicted_us"]
                estimate = 10.0 + b / 4e5 if collective == "allreduce" else 5.0 + b / 3e5
                self.assertAlmostEqual(float(cells[4]), predicted, delta=0.051, msg=cells)
                self.assertAlmostEqual(float(cells[5]), predicted / estimate, delta=0.0051, msg=cells)
        # NCCL's own choice beside plan's best; one node has no tree family in plan; no estimate, its note.
        best = next(r for k, r in plan.items() if k[0] == "allreduce" and k[2] == 1 << 30 and r["best"])
        self.assertEqual(table[("allreduce", "nccl", 1 << 30)][1], "nccl (plan's best: {})".format(best["algorithm"]))
        self.assertIn("plan has no tree", table[("allreduce", "tree", 1024)][4])
        self.assertEqual(table[("allreduce", "nvls", 1024)][3], "- (NCCL: invalid usage)")
        self.assertRegex(proc.stdout, r"\| alltoall \| nccl \| 11 \| \d+\.\d\d \| \d+\.\d\d - \d+\.\d\d \|")
        # A file that is not the estimates: one line, exit 1.
        with tempfile.NamedTemporaryFile("w", suffix=".json") as bad:
            bad.write("{\"gpus\": 0, \"rows\": []}")
            bad.flush()
            proc = run(["python3", script, "--estimates", bad.name, "--topology", self.NDV5, "--cctune", CCTUNE])
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(proc.stdout.splitlines(), ["nccl_estimates: {}: gpus 0 is not a count from 1 to 64".format(bad.name)])

    def test_plan_from_the_topology_alone_and_from_a_measured_run(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "plan.json")
            proc = run([CCTUNE, "plan", "--topology", self.NDV5, "--gpu-model", "H100-SXM5", "--link-gbps", "400",
                        "--nodes", "1000", "--ranks-per-node", "8", "--collective", "allreduce", "-b", "1M", "-e", "8G",
                        "-J", out])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(out) as f:
                doc = json.load(f)
            self.assertTrue(doc["from_speed_of_light_only"])
            sizes = sorted({r["bytes"] for r in doc["rows"]})
            self.assertEqual((sizes[0], sizes[-1], len(sizes)), (1 << 20, 8 << 30, 14))
            for size in sizes:
                rows = [r for r in doc["rows"] if r["bytes"] == size]
                self.assertEqual(sum(r["best"] for r in rows), 1, rows)
                self.assertTrue(all(0 < r["sol_pct"] <= 100 for r in rows), rows)
            # Fitted on a real run of 4 ranks, predicted for 8 on one node.
            run_json = os.path.join(tmp, "run.json")
            proc = run(mpirun(4, "bench", "--collective", "allreduce", "--algorithm", "mpi,ring,recursive_doubling",
                              "-b", "1K", "-e", "256K", "-f", "4", "-n", "3", "-w", "1", "--no-db", "--no-progress",
                              "-J", run_json))
            self.assertEqual(proc.returncode, 0, proc.stderr)
            proc = run([CCTUNE, "plan", "--from", run_json, "--nodes", "1", "--ranks-per-node", "8", "--collective",
                        "allreduce", "-b", "1K", "-e", "256K", "-f", "4", "-J", out])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(out) as f:
                doc = json.load(f)
        self.assertEqual(sorted(f["algorithm"] for f in doc["fits"]), ["recursive_doubling", "ring"])
        self.assertEqual({f["fitted_on"][0] for f in doc["fits"]}, {"1x4"})
        self.assertEqual(len(doc["rows"]), 2 * 5)
        self.assertTrue(all(r["predicted_us"] > 0 for r in doc["rows"]))
        self.assertTrue(any("not modeled" in note and "allreduce mpi" in note for note in doc["notes"]), doc["notes"])

    def test_predicted_rules_are_added_to_a_profile_and_verified_at_their_shape(self):
        """plan --add-to writes rules for a shape never measured; verify at that shape re-measures them."""
        with tempfile.TemporaryDirectory() as tmp:
            runs = []
            for ranks in (2, 3):
                runs.append(os.path.join(tmp, "run{}.json".format(ranks)))
                proc = run(mpirun(ranks, "bench", "--collective", "allreduce", "--algorithm", "ring,recursive_doubling",
                                  "-b", "64K", "-e", "256K", "-f", "4", "-n", "3", "-w", "1", "--no-db", "--no-progress",
                                  "-J", runs[-1]))
                self.assertEqual(proc.returncode, 0, proc.stderr)
            profile = os.path.join(tmp, "profile.json")
            measured = {"collective": "allreduce", "backend": "mpi", "min_bytes": 0, "max_bytes": 2 ** 64 - 1,
                        "choice": {"algorithm": "ring"}, "median_us": 10.0}
            with open(profile, "w") as f:
                json.dump({"format": "cctune-profile", "version": 1, "backend": "mpi",
                           "shape": {"nranks": 2, "nnodes": 1, "ranks_per_node": 2}, "rules": [measured]}, f)
            plan_json = os.path.join(tmp, "plan.json")
            plan = [CCTUNE, "plan", "--from", runs[0], "--from", runs[1], "--nodes", "1", "--collective", "allreduce",
                    "-b", "64K", "-e", "256K", "-f", "4", "--add-to", profile]
            # At the measured shape, a prediction could only contradict the measurement: refused, file kept.
            with open(profile) as f:
                before = f.read()
            proc = run([*plan, "--ranks-per-node", "2"])
            self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
            self.assertIn("measured at 2 ranks on 1 nodes", proc.stderr)
            with open(profile) as f:
                self.assertEqual(f.read(), before)
            for _ in range(2):  # a second plan replaces the first's predictions instead of adding to them
                proc = run([*plan, "--ranks-per-node", "4", "-J", plan_json])
                self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn("predicted rule(s) for 4 ranks on 1 node(s)", proc.stdout)
            with open(profile) as f:
                rules = json.load(f)["rules"]
            with open(plan_json) as f:
                best = {r["bytes"]: r for r in json.load(f)["rows"] if r["best"]}
            self.assertEqual((rules[0]["choice"]["algorithm"], rules[0]["max_bytes"], "predicted" in rules[0]),
                             ("ring", 2 ** 64 - 1, False))  # the measured rule is kept as it was
            predicted = rules[1:]
            self.assertTrue(predicted and all(r["nranks"] == 4 and r["nnodes"] == 1 for r in predicted), predicted)
            points = {p["bytes"]: (r["choice"]["algorithm"], p["us"]) for r in predicted for p in r["predicted"]}
            self.assertEqual(points, {b: (r["algorithm"], r["predicted_us"]) for b, r in best.items()})

            # Verify at 4 ranks: each size's predicted time beside the measured one, and whether it held.
            proc = run(mpirun(4, "verify", profile, "--collective", "allreduce", "-b", "64K", "-e", "256K", "-f", "4",
                              "--rounds", "2", "-n", "3", "--no-db"))
            self.assertIn(proc.returncode, (0, 1), proc.stderr)  # 1: a choice slower than Open MPI's beyond noise
            self.assertIn("rules predicted for this shape", proc.stdout)
            rows = [line.split() for line in proc.stdout.splitlines() if line.startswith("  allreduce")]
            self.assertEqual(sorted(int(r[1]) for r in rows), sorted(best), proc.stdout)
            held = 0
            for r in rows:
                size, tuned, measured_us, predicted_us = int(r[1]), r[2], float(r[4]), float(r[9])
                self.assertEqual(tuned, best[size]["algorithm"])
                self.assertAlmostEqual(predicted_us, best[size]["predicted_us"], delta=0.01)
                within = abs(predicted_us - measured_us) <= 0.30 * measured_us
                verdict = " ".join(r[11:])
                expected = "held" if within and "SLOWER" not in verdict else "NOT held"
                self.assertTrue(verdict.startswith(expected), (r, expected))
                held += verdict.startswith("held")
            self.assertIn("# predictions: {} of {} sizes held".format(held, len(rows)), proc.stdout)

            # A shape neither measured nor predicted is refused before anything is measured.
            proc = run(mpirun(3, "verify", profile, "--collective", "allreduce", "-b", "64K", "-e", "64K", "--no-db"))
            self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
            self.assertIn("no rule predicted for that shape", proc.stderr)

    def test_bad_plan_and_sol_options_are_one_line_and_write_nothing(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "p.json")
            base = ["--ranks-per-node", "1", "--topology", self.NDV5, "-J", out]
            for args, message in ((["--link-gbps", "nan"], "--link-gbps nan must be a rate"),
                                  (["--gpu-model", "H900"], "not a GPU cctune knows"),
                                  (["--nodes", "0"], "--nodes 0 is out of range"),
                                  (["-b", "1M", "-e", "1K"], "give 0 < -b <= -e"),
                                  (["--from", os.path.join(tmp, "none.json")], "no such file")):
                with self.subTest(args=args):
                    nodes = [] if "--nodes" in args else ["--nodes", "2"]
                    proc = run([CCTUNE, "plan", *base, *nodes, *args])
                    self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
                    self.assertEqual(len(cctune_lines(proc.stderr)), 1, proc.stderr)
                    self.assertIn(message, proc.stderr)
            proc = run([CCTUNE, "plan", "--nodes", "2", "--ranks-per-node", "1"])
            self.assertEqual(proc.returncode, 2)
            self.assertIn("give measured runs (--from) or the nodes' topology", proc.stderr)
            proc = run([CCTUNE, "topo", "--nccl-xml", self.NDV5, "--link-gbps", "-5"])
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertEqual(os.listdir(tmp), [])


class Topo(unittest.TestCase):
    def test_cluster_view_at_four_ranks_says_plainly_there_is_no_gpu(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "topo.json")
            proc = run(mpirun(4, "topo", "--json", path))
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(path) as f:
                view = json.load(f)
        self.assertIn("1 node, 4 ranks (ranks per node: 4)", proc.stdout)
        self.assertIn("GPUs: none. This node has no NVIDIA GPU", proc.stdout)
        self.assertEqual(view["nodes"], 1)
        self.assertEqual(view["ranks"], 4)
        self.assertEqual(view["ranks_per_node"], [4])
        self.assertTrue(view["homogeneous"])
        self.assertEqual([r["local_rank"] for r in view["rank_placement"]], [0, 1, 2, 3])
        self.assertEqual({r["gpu"] for r in view["rank_placement"]}, {None})
        self.assertEqual(len(view["node_types"]), 1)
        self.assertEqual(view["node_types"][0]["model"]["gpus"], [])

    def test_fingerprint_alone_is_one_line_and_bad_combinations_one_error(self):
        ndv5 = os.path.join(FIXTURES, "nccl-azure-ndv5-8xH100-8xIB.xml")
        proc = run([CCTUNE, "topo", "--fingerprint", "--nccl-xml", ndv5])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertRegex(proc.stdout, r"^[0-9a-f]{16}\n$")
        with tempfile.TemporaryDirectory() as tmp:
            for args, message in ((["--json", os.path.join(tmp, "x.json")], "excludes"),
                                  (["--xml", os.path.join(tmp, "missing.xml")], "no such file")):
                proc = run([CCTUNE, "topo", "--fingerprint", *args])
                self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
                self.assertEqual(len(cctune_lines(proc.stderr)), 1, proc.stderr)
                self.assertIn(message, proc.stderr)
            self.assertEqual(os.listdir(tmp), [])

    def test_heterogeneous_cluster_is_reported_with_each_node_type(self):
        # mpirun's MPMD form plays three nodes: two g4dn (one with 2 ranks) and one p4d.
        g4dn, p4d = fixture("hwloc-aws-g4dn-metal-8xT4-efa.xml"), fixture("nccl-aws-p4d-24xl-8xA100-4xEFA.xml")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "cluster.json")
            def node(ranks, host, model, *extra):
                return ["-np", str(ranks), CCTUNE, "topo", "--simulate-host", host, "--simulate-node", model, *extra]
            command = [MPIRUN, "--oversubscribe", "--bind-to", "none", *node(2, "a", g4dn, "--json", path), ":",
                       *node(1, "b", g4dn), ":", *node(1, "c", p4d)]
            proc = run(command)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(path) as f:
                view = json.load(f)
        self.assertIn("3 nodes, 4 ranks (ranks per node: 2, 1, 1, UNEVEN)", proc.stdout)
        self.assertIn("HETEROGENEOUS: 2 node types.", proc.stdout)
        self.assertIn("Node type 1 (2 nodes: a b)", proc.stdout)
        self.assertIn("Node type 2 (1 node: c)", proc.stdout)
        self.assertFalse(view["homogeneous"])
        self.assertEqual([t["hosts"] for t in view["node_types"]], [["a", "b"], ["c"]])
        placement = view["rank_placement"]
        self.assertEqual([(r["host"], r["local_rank"]) for r in placement], [("a", 0), ("a", 1), ("b", 0), ("c", 0)])
        g4dn_gpus = [g["busid"] for g in view["node_types"][0]["model"]["gpus"]]
        self.assertEqual([r["gpu"] for r in placement[:3]], [g4dn_gpus[0], g4dn_gpus[1], g4dn_gpus[0]])
        self.assertEqual(placement[3]["gpu"], view["node_types"][1]["model"]["gpus"][0]["busid"])

    def test_every_fixture_loads_and_prints_its_matrix(self):
        expected = {
            "hwloc-nvidia-dgx2h-16xV100-nvswitch.xml": ("--xml", "GPUs: 16", "12 NVSwitches"),
            "hwloc-aws-g4dn-metal-8xT4-efa.xml": ("--xml", "GPUs: 8", "NICs: 2 (1 RDMA)"),
            "nccl-azure-ndv5-8xH100-8xIB.xml": ("--nccl-xml", "GPUs: 8", "NICs: 8 (8 RDMA)"),
            "nccl-azure-ndv4-8xA100-8xIB.xml": ("--nccl-xml", "GPUs: 8", "NUMA nodes: 4"),
            "nccl-aws-p4d-24xl-8xA100-4xEFA.xml": ("--nccl-xml", "GPUs: 8", "NICs: 4 (4 RDMA)"),
        }
        for name, (option, *facts) in expected.items():
            with self.subTest(name=name):
                proc = run([CCTUNE, "topo", option, fixture(name)])
                self.assertEqual(proc.returncode, 0, proc.stderr)
                for fact in facts:
                    self.assertIn(fact, proc.stdout)
                self.assertRegex(proc.stdout, r"GPU7 .*(PIX|PHB|NODE|SYS|NVL)")

    def test_exported_nccl_xml_loads_back(self):
        with tempfile.TemporaryDirectory() as tmp:
            exported = os.path.join(tmp, "g4dn-nccl.xml")
            first = os.path.join(tmp, "first.json")
            second = os.path.join(tmp, "second.json")
            proc = run([CCTUNE, "topo", "--xml", fixture("hwloc-aws-g4dn-metal-8xT4-efa.xml"), "--json", first,
                        "--export-nccl-xml", exported])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            proc = run([CCTUNE, "topo", "--nccl-xml", exported, "--json", second])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(first) as a, open(second) as b:
                original, loaded = json.load(a), json.load(b)
        self.assertEqual([g["busid"] for g in loaded["gpus"]], [g["busid"] for g in original["gpus"]])
        self.assertEqual([n["busid"] for n in loaded["nics"]], [n["busid"] for n in original["nics"]])

    def test_bad_files_give_one_line_naming_the_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            def write(name, text):
                path = os.path.join(tmp, name)
                with open(path, "w") as f:
                    f.write(text)
                return path
            cases = [
                (["--xml", os.path.join(tmp, "missing.xml")], "no such file"),
                (["--xml", write("empty.xml", "")], "empty file"),
                (["--nccl-xml", write("garbage.xml", "\x00\x01 not xml")], "not well-formed XML"),
                (["--nccl-xml", write("truncated.xml", "<system version=\"1\"><cpu numaid=\"0\"><pci busid=")],
                 "not well-formed XML"),
                (["--xml", write("v3.xml", "<topology version=\"3.0\"><object type=\"Machine\"/></topology>")],
                 "hwloc 3.0 XML is not supported"),
                (["--xml", write("deep.xml", "<topology version=\"2.0\">" + "<object>" * 100000
                                 + "</object>" * 100000 + "</topology>")], "nested more than"),
                (["--xml", fixture("nccl-aws-p4d-24xl-8xA100-4xEFA.xml")], "--nccl-xml"),
                (["--xml", fixture("hwloc-aws-g4dn-metal-8xT4-efa.xml"), "--nccl-xml",
                  fixture("nccl-aws-p4d-24xl-8xA100-4xEFA.xml")], "excludes"),
            ]
            for args, expected in cases:
                with self.subTest(args=args[:2]):
                    proc = run([CCTUNE, "topo", *args], timeout=60)
                    self.assertEqual(proc.returncode, 2, proc.stderr)
                    lines = cctune_lines(proc.stderr)
                    self.assertEqual(len(lines), 1, proc.stderr)
                    self.assertIn(expected, lines[0])
                    if args[0] in ("--xml", "--nccl-xml") and "excludes" not in expected:
                        self.assertIn(args[1], lines[0])
                    self.assertEqual(proc.stdout, "")


    def test_item9_a_doctype_that_declares_an_entity_is_one_line_not_a_crash(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "entity.xml")
            with open(path, "w") as f:
                f.write('<?xml version="1.0"?>\n<!DOCTYPE topology [<!ENTITY x "y">]>\n'
                        '<topology version="2.0"><object type="Machine" os_index="0" name="&x;"/></topology>\n')
            for command in ([CCTUNE, "topo", "--xml", path], mpirun(2, "topo", "--simulate-node", path)):
                with self.subTest(launcher=command[0]):
                    proc = run(command, timeout=60)
                    self.assertIn(proc.returncode, (1, 2), proc.stderr)
                    self.assertNotIn(proc.returncode, (-11, 139), proc.stderr)
                    lines = cctune_lines(proc.stderr)
                    self.assertEqual(len(lines), 1, proc.stderr)
                    self.assertIn(path + ": its DOCTYPE declares entities", lines[0])
                    self.assertNotIn("Segmentation", proc.stderr)

    def test_item11_a_report_lost_on_a_full_stdout_fails_with_one_line(self):
        for args in (["--xml", fixture("hwloc-aws-g4dn-metal-8xT4-efa.xml")], ["--fingerprint"]):
            with self.subTest(args=args):
                proc = run_into_dev_full([CCTUNE, "topo", *args])
                self.assertEqual(proc.returncode, 1, proc.stderr)
                lines = cctune_lines(proc.stderr)
                self.assertEqual(len(lines), 1, proc.stderr)
                self.assertIn("cannot write to standard output: No space left on device", lines[0])

    def test_item16_outputs_on_a_full_disk_keep_the_old_files_and_leave_no_temporary(self):
        tmpfs = Tmpfs(self, size="64k")
        disk = tmpfs.path
        outputs = {name: os.path.join(disk, name) for name in ("topo.json", "nccl.xml")}
        for path in outputs.values():
            with open(path, "w") as f:
                f.write("previous")
        tmpfs.fill()
        proc = run([CCTUNE, "topo", "--xml", fixture("hwloc-aws-g4dn-metal-8xT4-efa.xml"), "--json",
                    outputs["topo.json"], "--export-nccl-xml", outputs["nccl.xml"]], timeout=60)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        lines = cctune_lines(proc.stderr)
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertIn("No space left on device", lines[0])
        for path in outputs.values():
            with open(path) as f:
                self.assertEqual(f.read(), "previous")
        self.assertEqual(sorted(os.listdir(disk)), ["filler", "nccl.xml", "topo.json"])

    def test_item15_two_outputs_or_an_output_over_the_input_are_refused_with_nothing_written(self):
        g4dn = fixture("hwloc-aws-g4dn-metal-8xT4-efa.xml")
        with tempfile.TemporaryDirectory() as tmp:
            same = os.path.join(tmp, "out")
            for args in (["--xml", g4dn, "--json", same, "--export-nccl-xml", os.path.join(tmp, ".", "out")],
                         ["--json", same, "--export-nccl-xml", same]):
                with self.subTest(args=args):
                    proc = run([CCTUNE, "topo", *args], timeout=60)
                    self.assertEqual(proc.returncode, 2, proc.stderr)
                    lines = cctune_lines(proc.stderr)
                    self.assertEqual(len(lines), 1, proc.stderr)
                    self.assertIn("name the same file", lines[0])
                    self.assertEqual(os.listdir(tmp), [])
            copy = os.path.join(tmp, "copy.xml")
            shutil.copy(g4dn, copy)
            proc = run([CCTUNE, "topo", "--xml", copy, "--export-nccl-xml", copy], timeout=60)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            with open(copy) as a, open(g4dn) as b:
                self.assertEqual(a.read(), b.read())


def bad_output_folders(tmp):
    """-o values no output can be written to, each with what the one line must say."""
    a_file = os.path.join(tmp, "a-file")
    with open(a_file, "w") as f:
        f.write("not a folder\n")
    return [("", "the path is empty"), (a_file, "is not a folder"),
            (os.path.join(a_file, "below"), "is not a folder")]


class Export(unittest.TestCase):
    @staticmethod
    def profile(rules):
        return json.dumps({"format": "cctune-profile", "version": 1, "cctune_version": "test",
                           "shape": {"nranks": 4, "nnodes": 1, "ranks_per_node": 4}, "rules": rules})

    @staticmethod
    def allreduce_4mib_us(env_file=None):
        # A tenant's own program, not cctune: cctune measures without its own exports (the env file's
        # rules included), so the job that sources the file is a plain MPI program timing itself.
        job = shlex.join([MPIRUN, "--oversubscribe", "--bind-to", "none", "-np", "4", SHIM_CLIENT,
                          "--time-allreduce", str(4 << 20), "10"])
        script = (f"source {shlex.quote(env_file)} && " if env_file else "") + job
        proc = run(["bash", "-c", script])
        assert proc.returncode == 0, proc.stderr
        return float(re.search(r"median ([0-9.]+) us", proc.stdout).group(1))

    def test_open_mpi_applies_the_exported_rules_through_the_env_file(self):
        # A segmented ring with 256-byte segments is many times slower (18x here, unloaded; still over
        # 3x with other tests running beside it) than Open MPI's own choice at
        # 4 MiB: if the file loads, the job slows down; a file of algorithm 0 must not.
        with tempfile.TemporaryDirectory() as tmp:
            slow, same = os.path.join(tmp, "slow"), os.path.join(tmp, "same")
            for name, choice in ((slow, {"algorithm": "ompi:5", "segsize": 256}), (same, {"algorithm": "ompi:0"})):
                os.mkdir(name)
                path = os.path.join(name, "profile.json")
                with open(path, "w") as f:
                    f.write(self.profile([{"collective": "allreduce", "backend": "mpi", "min_bytes": 0,
                                           "max_bytes": 18446744073709551615, "choice": choice}]))
                proc = run([CCTUNE, "export", path])
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertTrue(os.path.exists(os.path.join(name, "ompi-rules.conf")))
            # The machine drifts between two speeds: the plain job and the algorithm-0 file alternate,
            # three launches each, and their medians are compared (one pair of launches once differed 2.06x).
            defaults, unforced_runs = [], []
            for _ in range(3):
                defaults.append(self.allreduce_4mib_us())
                unforced_runs.append(self.allreduce_4mib_us(os.path.join(same, "cctune.env")))
            forced = self.allreduce_4mib_us(os.path.join(slow, "cctune.env"))
        default, unforced = statistics.median(defaults), statistics.median(unforced_runs)
        self.assertGreater(forced, 3 * default, (defaults, forced, unforced_runs))
        self.assertLess(unforced, 2 * default, (defaults, forced, unforced_runs))

    def test_ompi_algorithms_are_forced_inside_one_launch(self):
        # Open MPI's segment-size parameter only matters where algorithm 5 (segmented ring) is in force:
        # if cctune's MPI_T forcing works, ompi:5 with 256-byte segments is many times slower than the
        # library's own choice measured in the same launch.
        proc = run([MPIRUN, "--oversubscribe", "--bind-to", "none", "-np", "4", "-x",
                    "OMPI_MCA_coll_tuned_allreduce_algorithm_segmentsize=256", CCTUNE, "bench", "--collective",
                    "allreduce", "--algorithm", "mpi,ompi:5", "-b", "4M", "-e", "4M", "-n", "10", "-w", "2",
                    "--no-progress", "--stats"])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        found = tables(proc.stdout)
        library = float(found[("allreduce", "mpi")][0][14])
        forced = float(found[("allreduce", "ompi:5")][0][14])
        self.assertGreater(forced, 3 * library, (library, forced))

    def test_bad_profiles_give_one_line_and_write_nothing(self):
        with tempfile.TemporaryDirectory() as tmp:
            good = self.profile([{"collective": "allreduce", "backend": "mpi", "min_bytes": 0, "max_bytes": 9,
                                  "choice": {"algorithm": "ompi:3"}}])
            cases = {
                "missing.json": (None, "the profile: no such file"),
                "truncated.json": (good[: len(good) // 2], "not valid JSON"),
                "newer.json": (good.replace('"version": 1', '"version": 7'), "newer than this cctune reads"),
                "badalgo.json": (good.replace("ompi:3", "ompi:9"), "not an Open MPI allreduce algorithm"),
                "reversed.json": (good.replace('"min_bytes": 0', '"min_bytes": 99'), "min_bytes is larger"),
            }
            for name, (text, expected) in cases.items():
                with self.subTest(name=name):
                    path = os.path.join(tmp, name)
                    if text is not None:
                        with open(path, "w") as f:
                            f.write(text)
                    out = os.path.join(tmp, "out-" + name)
                    proc = run([CCTUNE, "export", path, "-o", out])
                    self.assertEqual(proc.returncode, 2, proc.stderr)
                    lines = cctune_lines(proc.stderr)
                    self.assertEqual(len(lines), 1, proc.stderr)
                    self.assertIn(expected, lines[0])
                    self.assertFalse(os.path.exists(os.path.join(out, "ompi-rules.conf")))

    def assert_refused(self, proc, expected, out=None):
        self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
        lines = cctune_lines(proc.stderr)
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertIn(expected, lines[0])
        self.assertNotIn("json.exception", lines[0])
        if out:
            self.assertFalse(os.path.exists(os.path.join(out, "ompi-rules.conf")))
            self.assertFalse(os.path.exists(os.path.join(out, "cctune.env")))

    def test_item7_fifo_and_dev_zero_as_profile_are_one_line_for_export_and_verify(self):
        # A FIFO with no writer blocked export and verify forever; /dev/zero read until memory ran out.
        with tempfile.TemporaryDirectory() as tmp:
            fifo = os.path.join(tmp, "profile.json")
            os.mkfifo(fifo)
            for path in (fifo, "/dev/zero"):
                for command in (["export", path, "-o", tmp], ["verify", path]):
                    with self.subTest(command=command):
                        proc = run([CCTUNE, *command], timeout=60)
                        self.assert_refused(proc, path + ": the profile: not a regular file", tmp)

    def test_item21_numbers_out_of_range_and_unknown_names_are_refused_naming_the_key(self):
        rule = {"collective": "allreduce", "backend": "nccl", "min_bytes": 0, "max_bytes": 9,
                "choice": {"algorithm": "ring", "protocol": "ll", "channels": 4}}

        def profile(**changes):
            text = json.loads(self.profile([dict(rule)]))
            for key, value in changes.items():
                target = text
                *parents, last = key.split(".")
                for parent in parents:
                    target = target[int(parent)] if parent.isdigit() else target[parent]
                target[last] = value
            return json.dumps(text)

        cases = {
            "channels": (profile(**{"rules.0.choice.channels": 2 ** 40}),
                         '"channels" is 1099511627776; allowed: a whole number from 0 to 64'),
            "segsize": (profile(**{"rules.0.backend": "mpi", "rules.0.choice": {"algorithm": "ompi:5", "segsize": -3}}),
                        '"segsize" is -3'),
            "version": (profile(version=1e300), '"version" is 1e+300, not a whole number'),
            "nranks": (profile(**{"shape.nranks": 2.7}), '"nranks" is 2.7, not a whole number'),
            "rules": (profile(rules=None), '"rules" is null, expected a list'),
            "unknown-host": (profile(**{"rules.0.backend": "mpi", "rules.0.choice": {"algorithm": "ring_of_my_own"}}),
                             "unknown mpi allreduce algorithm 'ring_of_my_own'"),
        }
        with tempfile.TemporaryDirectory() as tmp:
            for name, (text, expected) in cases.items():
                with self.subTest(name=name):
                    path = os.path.join(tmp, name + ".json")
                    with open(path, "w") as f:
                        f.write(text)
                    out = os.path.join(tmp, "out-" + name)
                    self.assert_refused(run([CCTUNE, "export", path, "-o", out]), expected, out)

    def test_item22_overflowing_numbers_are_one_line_and_exit_2_not_stoi(self):
        # std::stoi threw out_of_range: "cctune: error: stoi", exit 1.
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "profile.json")
            with open(path, "w") as f:
                f.write(self.profile([{"collective": "allreduce", "backend": "mpi", "min_bytes": 0, "max_bytes": 9,
                                       "choice": {"algorithm": "ompi:99999999999999999999"}}]))
            for command in (["export", path], ["verify", path]):
                with self.subTest(command=command[0]):
                    proc = run([CCTUNE, *command], timeout=60)
                    self.assert_refused(proc, "'ompi:99999999999999999999' is not an Open MPI allreduce algorithm", tmp)
                    self.assertIn(path + ": rule 0", proc.stderr)

    def test_item5_unwritable_output_folders_are_refused_before_anything_is_written(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "profile.json")
            with open(path, "w") as f:
                f.write(self.profile([{"collective": "allreduce", "backend": "mpi", "min_bytes": 0, "max_bytes": 9,
                                       "choice": {"algorithm": "ompi:3"}}]))
            for out, expected in bad_output_folders(tmp):
                with self.subTest(out=out):
                    self.assert_refused(run([CCTUNE, "export", path, "-o", out]), expected)
            self.assertEqual(sorted(os.listdir(tmp)), ["a-file", "profile.json"])
            # An output file that is a folder.
            os.makedirs(os.path.join(tmp, "out", "cctune.env"))
            self.assert_refused(run([CCTUNE, "export", path, "-o", os.path.join(tmp, "out")]), "is a directory")
            self.assertFalse(os.path.exists(os.path.join(tmp, "out", "ompi-rules.conf")))
            read_only = Tmpfs(self, read_only=True)
            self.assert_refused(run([CCTUNE, "export", path, "-o", read_only.path]), "cannot create files in it")


class Tune(unittest.TestCase):
    def test_tune_writes_profile_and_exports_that_verify_and_open_mpi_accept(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc = run(mpirun(3, "tune", "-b", "1K", "-e", "256K", "-f", "16", "--strategy", "both",
                              "--initial-iters", "3", "--rounds", "2", "-o", tmp))
            self.assertEqual(proc.returncode, 0, proc.stderr)
            for collective in ("allreduce", "alltoall"):
                self.assertIn(f"# tune {collective}: candidates ompi:0", proc.stdout)
            self.assertRegex(proc.stdout, r"racing cost \d+% of its time")
            self.assertRegex(proc.stdout, r"confirmation [\d.]+ s \(\d+ size\(s\) reverted to ompi:0\)")
            # The tuning is recorded: every candidate's median per size, in the results database.
            tuned_run = re.search(r"# Recorded as run (\d+)", proc.stdout).group(1)
            exported = run([CCTUNE, "results", "export", tuned_run])
            self.assertEqual(exported.returncode, 0, exported.stderr)
            record = json.loads(exported.stdout)
            self.assertEqual((record["kind"], record["nranks"]), ("tune", 3))
            self.assertIn("ompi:0", {m["algorithm"] for m in record["measurements"]})
            self.assertTrue(all(m["median_us"] > 0 for m in record["measurements"]))
            profile_path = os.path.join(tmp, "profile.json")
            with open(profile_path) as f:
                profile = json.load(f)
            self.assertEqual(profile["shape"]["nranks"], 3)
            # The fingerprint a job's env file measures on its node is the one tune recorded.
            self.assertEqual(profile["shape"]["fingerprint"], run([CCTUNE, "topo", "--fingerprint"]).stdout.strip())
            for collective in ("allreduce", "alltoall"):
                rules = [r for r in profile["rules"] if r["collective"] == collective]
                self.assertEqual(rules[0]["min_bytes"], 0)
                self.assertEqual(rules[-1]["max_bytes"], 18446744073709551615)
                for a, b in zip(rules, rules[1:]):
                    self.assertEqual(a["max_bytes"] + 1, b["min_bytes"])
                    self.assertNotEqual(a["choice"]["algorithm"], b["choice"]["algorithm"])
            self.assertTrue(os.path.exists(os.path.join(tmp, "ompi-rules.conf")))
            # Open MPI accepts the rules file (a parse error would abort nothing, so load it and run).
            env = os.path.join(tmp, "cctune.env")
            bench = shlex.join(mpirun(3, "bench", "-b", "1K", "-e", "1K", "-n", "2", "--no-progress"))
            proc = run(["bash", "-c", f"source {shlex.quote(env)} && {bench}"])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            proc = run(mpirun(3, "verify", profile_path, "-b", "1K", "-e", "256K", "-f", "16", "--rounds", "2",
                              "-n", "3"))
            self.assertIn(proc.returncode, (0, 1), proc.stderr)
            self.assertIn("geometric-mean speedup of tuned over default", proc.stdout)
            verified_run = re.search(r"# Recorded as run (\d+)", proc.stdout).group(1)
            record = json.loads(run([CCTUNE, "results", "export", verified_run]).stdout)
            self.assertEqual(record["kind"], "verify")
            self.assertEqual({m["algorithm"] for m in record["measurements"]}, {"default", "tuned"})
            self.assertEqual(len(record["environment"]["choices"]), 6)
            self.assertEqual(len([l for l in proc.stdout.splitlines() if l.strip().startswith(("allreduce", "alltoall"))]),
                             6)
            proc = run(mpirun(2, "verify", profile_path))
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertEqual(len(cctune_lines(proc.stderr)), 1, proc.stderr)
            self.assertIn("tuned for 3 ranks", proc.stderr)

    def test_what_tune_and_verify_cannot_run_is_one_line_before_any_rank_communicates(self):
        built = built_backends()
        cases = [
            (["tune", "-T", "5"], "-T works with --backend nccl or cuda"),
            (["tune", "--backend", "nccl", "--library-only"], "--library-only"),
            (["tune", "--backend", "gloo"], "unknown backend 'gloo'"),
        ]
        if "nccl" not in built:
            cases.append((["tune", "--backend", "nccl"], "built without"))
        with tempfile.TemporaryDirectory() as tmp:
            # Choices no candidate of this build is: a host algorithm cctune does not have, and a
            # channel cap the nccl search space never measures (or, without NCCL, any nccl rule).
            for name, backend, choice, message in (
                    ("unknown-host", "mpi", {"algorithm": "ring_of_my_own"}, "ring_of_my_own"),
                    ("odd-cap", "nccl", {"algorithm": "ring", "protocol": "ll", "channels": 12},
                     "12 channels" if "nccl" in built else "built without")):
                path = os.path.join(tmp, name + ".json")
                profile = json.loads(Export.profile([{"collective": "allreduce", "backend": backend, "min_bytes": 0,
                                                      "max_bytes": 1023, "choice": choice}]))
                profile["backend"] = backend
                with open(path, "w") as f:
                    json.dump(profile, f)
                cases.append((["verify", path, "--collective", "allreduce"], message))
            for args, message in cases:
                with self.subTest(args=args):
                    proc = run(mpirun(2, *args))
                    self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
                    lines = set(cctune_lines(proc.stderr))
                    self.assertEqual(len(lines), 1, proc.stderr)
                    self.assertIn(message, lines.pop())

    TINY = ["tune", "--collective", "allreduce", "-b", "1K", "-e", "1K", "--initial-iters", "1", "--rounds", "1",
            "--no-confirm", "--no-db"]

    def test_item5_unwritable_output_folders_are_one_line_before_any_rank_communicates(self):
        with tempfile.TemporaryDirectory() as tmp:
            cases = bad_output_folders(tmp)
            os.makedirs(os.path.join(tmp, "out", "profile.json"))
            cases.append((os.path.join(tmp, "out"), "is a directory"))
            for out, expected in cases:
                with self.subTest(out=out):
                    proc = run(mpirun(2, *self.TINY, "-o", out), timeout=120)
                    self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
                    lines = set(cctune_lines(proc.stderr))
                    self.assertEqual(len(lines), 1, proc.stderr)
                    self.assertIn(expected, lines.pop())
                    self.assertNotIn("# cctune tune:", proc.stdout)  # refused before the ranks met
            read_only = Tmpfs(self, read_only=True)
            proc = run(mpirun(2, *self.TINY, "-o", read_only.path), timeout=120)
            self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
            self.assertIn("cannot create files in it", proc.stderr)
            self.assertNotIn("# cctune tune:", proc.stdout)

    def test_item4_a_full_disk_at_the_end_ends_the_job_with_one_line_and_leaves_no_temporary(self):
        # Rank 0 alone could not write the profile and waited in a barrier the others never reached.
        disk = Tmpfs(self, size="64k")
        disk.fill()
        proc = run(mpirun(2, *self.TINY, "-o", disk.path), timeout=180)
        self.assertNotEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        lines = cctune_lines(proc.stderr)
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertIn(os.path.join(disk.path, "profile.json"), lines[0])
        self.assertIn("No space left on device", lines[0])
        # Rank 0 alone fails at the end, with the others in the final meeting: no MPI_Abort, which raced
        # their MPI_Finalize and hung mpirun now and then.
        self.assertNotIn("MPI_ABORT", proc.stderr)
        self.assertEqual(os.listdir(disk.path), ["filler"])

    def _full_default_database(self):
        """A cctune database on a tmpfs that opens for writing but whose next write fails: a reader keeps
        its WAL and shared memory in place (emptied), then the disk is filled."""
        import sqlite3
        disk = Tmpfs(self, size="1m")
        db = os.path.join(disk.path, "results.db")
        self.assertEqual(run([CCTUNE, "results", "--db", db, "import", NCCL_TESTS_LOG]).returncode, 0)
        keeper = sqlite3.connect(db, isolation_level=None)
        keeper.execute("SELECT count(*) FROM runs").fetchone()
        keeper.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        self.addCleanup(keeper.close)
        disk.fill()
        return db

    def test_db_full_at_the_end_of_verify_is_a_warning_after_the_report_DbFailureAtTheEnd(self):
        # The comparison was lost: verify stored before printing, and a failing default database made
        # exit 1, which means "slower". Now: the report, one warning, the comparison's exit code.
        db = self._full_default_database()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "profile.json")
            with open(path, "w") as f:
                f.write(Export.profile([{"collective": "allreduce", "backend": "mpi", "min_bytes": 0,
                                         "max_bytes": 18446744073709551615, "choice": {"algorithm": "ompi:0"}}]))
            verify = ["verify", path, "--collective", "allreduce", "-b", "1K", "-e", "1K", "--rounds", "1", "-n", "2"]
            env = dict(os.environ, CCTUNE_DB=db)
            proc = run(mpirun(4, *verify), timeout=180, env=env)
            self.assertIn("geometric-mean speedup of tuned over default", proc.stdout, proc.stderr)
            slower = "SLOWER than default beyond noise" in proc.stdout
            self.assertEqual(proc.returncode, 1 if slower else 0, proc.stdout + proc.stderr)
            lines = cctune_lines(proc.stderr)
            self.assertEqual(len(lines), 1, proc.stderr)
            self.assertIn("cctune: warning: not recording this run: ", lines[0])
            self.assertNotIn("# Recorded as run", proc.stdout)
            # Named with --db, the database must take the record: a failure, but after the report.
            proc = run(mpirun(4, *verify, "--db", db), timeout=120)
            self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
            self.assertIn("geometric-mean speedup of tuned over default", proc.stdout)
            lines = cctune_lines(proc.stderr)
            self.assertEqual(len(lines), 1, proc.stderr)
            self.assertIn("error: ", lines[0])
            self.assertIn("the disk is full", lines[0])
            self.assertNotIn("MPI_ABORT", proc.stderr)
            # tune: the profile is written and the run's next step said, whatever the default database does.
            proc = run(mpirun(2, *[a for a in self.TINY if a != "--no-db"], "-o", tmp), timeout=180, env=env)
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            lines = cctune_lines(proc.stderr)
            self.assertEqual(len(lines), 1, proc.stderr)
            self.assertIn("cctune: warning: not recording this run: ", lines[0])
            self.assertIn("next: mpirun -np 2 cctune verify", proc.stdout)
            self.assertTrue(os.path.exists(os.path.join(tmp, "profile.json")))

    def test_outputs_are_checked_by_the_writing_rank_alone_OutputChecksOnOtherRanks(self):
        # Every rank checked -o on its own filesystem; ranks other than 0 that refused exited 0 in
        # silence, and the job hung or died with an mpirun banner. Ranks 1 and 2 run where "out" is a
        # file, rank 0 where it is a folder: only rank 0 writes, so the tuning runs and writes there.
        cctune = shutil.which(CCTUNE) or CCTUNE
        cctune = os.path.abspath(cctune) if os.sep in cctune else cctune
        with tempfile.TemporaryDirectory() as tmp:
            writer, others = os.path.join(tmp, "writer"), os.path.join(tmp, "others")
            os.makedirs(os.path.join(writer, "out"))
            os.makedirs(others)
            with open(os.path.join(others, "out"), "w") as f:
                f.write("a file\n")
            command = [MPIRUN, "--oversubscribe", "--bind-to", "none",
                       "-np", "1", "--wdir", writer, cctune, *self.TINY, "-o", "out", ":",
                       "-np", "2", "--wdir", others, cctune, *self.TINY, "-o", "out"]
            proc = run(command, timeout=120)  # a hang fails the test with what the job printed
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            self.assertTrue(os.path.exists(os.path.join(writer, "out", "profile.json")))
            self.assertEqual(os.listdir(others), ["out"])
            # Rank 0's refusal still ends the whole job at once, in one line.
            proc = run(mpirun(3, *self.TINY, "-o", os.path.join(others, "out", "x", "y")), timeout=120)
            self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
            lines = cctune_lines(proc.stderr)
            self.assertEqual(len(lines), 1, proc.stderr)
            self.assertIn("is not a folder", lines[0])
            self.assertNotIn("# cctune tune:", proc.stdout)

    def test_numbers_are_read_as_written_and_range_checked_NumbersWrappedByCli11(self):
        # CLI11 made --seed -1 into 2^64-1, clamped 99999999999999999999, and read 010 as 8, 0x10 as 16.
        tiny = [a for a in self.TINY if a not in ("--initial-iters", "--rounds", "1")]
        cases = [(["--seed", "-1"], "--seed '-1' is not a whole number (0 to 18446744073709551615)"),
                 (["--seed", "99999999999999999999"], "--seed 99999999999999999999 is out of range"),
                 (["--initial-iters", "010"], None), (["--initial-iters", "0x10"], "--initial-iters '0x10'"),
                 (["--rounds", "11"], "--rounds 11 is out of range (1 to 10)"),
                 (["--confirm-rounds", "0x10"], "--confirm-rounds '0x10' is not a whole number (1 to 100)")]
        with tempfile.TemporaryDirectory() as tmp:
            for args, message in cases:
                with self.subTest(args=args):
                    proc = run(mpirun(2, *tiny, *args, "-o", tmp), timeout=120)
                    if message is None:  # 010 is ten, as written
                        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
                        continue
                    self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
                    lines = set(cctune_lines(proc.stderr))
                    self.assertEqual(len(lines), 1, proc.stderr)
                    self.assertIn(message, lines.pop())
            path = os.path.join(tmp, "profile.json")
            with open(path, "w") as f:
                f.write(Export.profile([{"collective": "allreduce", "backend": "mpi", "min_bytes": 0,
                                         "max_bytes": 18446744073709551615, "choice": {"algorithm": "ompi:0"}}]))
            for args, message in ((["--rounds", "0x10"], "--rounds '0x10' is not a whole number (1 to 100)"),
                                  (["-n", "010000000"], "-n 010000000 is out of range (1 to 100000)")):
                with self.subTest(args=args):
                    proc = run(mpirun(4, "verify", path, *args), timeout=120)
                    self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
                    lines = set(cctune_lines(proc.stderr))
                    self.assertEqual(len(lines), 1, proc.stderr)
                    self.assertIn(message, lines.pop())

    def test_verify_fails_a_profile_that_is_slower_than_default(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "profile.json")
            with open(path, "w") as f:
                f.write(Export.profile([{"collective": "allreduce", "backend": "mpi", "min_bytes": 0,
                                         "max_bytes": 18446744073709551615, "choice": {"algorithm": "ompi:5"}}]))
            # With 256-byte segments, the forced segmented ring is several times slower than Open MPI's own.
            proc = run([MPIRUN, "--oversubscribe", "--bind-to", "none", "-np", "4", "-x",
                        "OMPI_MCA_coll_tuned_allreduce_algorithm_segmentsize=256", CCTUNE, "verify", path,
                        "--collective", "allreduce", "-b", "4M", "-e", "4M", "--rounds", "3", "-n", "5"])
            self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
            self.assertIn("SLOWER beyond noise", proc.stdout)

    def test_measurements_drop_our_tuner_plugin_and_keep_and_record_the_sites(self):
        # A job script that sourced a cctune.env names our NCCL plugin: a measurement must not run under
        # it (one line says what was unset). A site's own plugin is NCCL's default there: kept, said, and
        # recorded with the run.
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "results.db")
            cases = {"/opt/x/libnccl-tuner-cctune.so": ("measuring without cctune's own exports", True),
                     "site": ("measuring under the site's NCCL_TUNER_PLUGIN=site", False)}
            for plugin, (line, ours) in cases.items():
                env = dict(os.environ, NCCL_TUNER_PLUGIN=plugin, CCTUNE_PROFILE=os.path.join(tmp, "p.json"))
                proc = run([CCTUNE, "tune", "-b", "1K", "-e", "1K", "--collective", "allreduce", "--initial-iters",
                            "1", "--rounds", "1", "--no-confirm", "-o", os.path.join(tmp, "out"), "--db", db], env=env)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                notes = [l for l in cctune_lines(proc.stderr) if "note: measuring" in l]
                self.assertTrue(any(line in l for l in notes), proc.stderr)
                self.assertRegex(proc.stdout, r"# at most \d+ bound configuration\(s\) alive at once")
                run_id = re.search(r"# Recorded as run (\d+)", proc.stdout).group(1)
                record = json.loads(run([CCTUNE, "results", "export", "--db", db, run_id]).stdout)
                measured = record["environment"]["measured_under"]
                self.assertIn("CCTUNE_PROFILE=" + os.path.join(tmp, "p.json"), measured["dropped"])
                if ours:
                    self.assertIn("NCCL_TUNER_PLUGIN=" + plugin, measured["dropped"])
                    self.assertEqual(measured["kept"], {})
                else:
                    self.assertEqual(measured["kept"], {"NCCL_TUNER_PLUGIN": "site"})
                proc = run([CCTUNE, "bench", "-b", "1K", "-e", "1K", "-n", "1", "--no-progress", "--no-db"], env=env)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertEqual(len([l for l in cctune_lines(proc.stderr) if line in l]), 1, proc.stderr)


class MpiShim(unittest.TestCase):
    """libcctune-mpi.so preloaded, through the env file, into an MPI program that knows nothing of cctune."""

    RULES = [
        {"collective": "allreduce", "backend": "mpi", "min_bytes": 0, "max_bytes": 4095,
         "choice": {"algorithm": "recursive_doubling"}},
        {"collective": "allreduce", "backend": "mpi", "min_bytes": 4096, "max_bytes": 18446744073709551615,
         "choice": {"algorithm": "ring"}},
        {"collective": "alltoall", "backend": "mpi", "min_bytes": 0, "max_bytes": 1023, "choice": {"algorithm": "ompi:2"}},
        {"collective": "alltoall", "backend": "mpi", "min_bytes": 1024, "max_bytes": 18446744073709551615,
         "choice": {"algorithm": "bruck"}},
    ]

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.profile = os.path.join(self.tmp.name, "profile.json")
        self.env = os.path.join(self.tmp.name, "cctune.env")
        self.export(Export.profile(self.RULES))

    def tearDown(self):
        self.tmp.cleanup()

    def export(self, profile_text):
        """Writes the profile and exports its env file, as a tenant would."""
        with open(self.profile, "w") as f:
            f.write(profile_text)
        proc = run([CCTUNE, "export", self.profile])
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def job(self, ranks, program, extra=""):
        command = shlex.join([MPIRUN, "--oversubscribe", "--bind-to", "none", "-np", str(ranks), *program])
        return run(["bash", "-c", f"source {shlex.quote(self.env)} && export CCTUNE_MPI_LOG=info {extra}&& {command}"],
                   timeout=120)

    def assert_client_passed(self, proc):
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertRegex(proc.stdout, r"shim_client: \d+ checks passed")

    def client(self, ranks):
        """The unmodified test job under the env file, checked against the MPI library's own results."""
        proc = self.job(ranks, [SHIM_CLIENT])
        self.assert_client_passed(proc)
        return proc

    @staticmethod
    def routes(proc):
        """(collective, first size, algorithm) of each route the shim announced on 4 ranks."""
        return set(re.findall(r"cctune-mpi: (\w+) of (\d+) B on 4 ranks runs (\w+)", proc.stderr))

    def test_the_profiles_algorithms_run_inside_an_unmodified_job_and_give_exact_results(self):
        routed = self.routes(self.client(4))
        # Each route is announced at its first size: 1 float (4 B); 4096 floats; 256 ints per peer (4 KiB
        # in all). Alltoall below 1 KiB stays with the library (ompi:2 through the rules file).
        self.assertIn(("allreduce", "4", "recursive_doubling"), routed)
        self.assertIn(("allreduce", "16384", "ring"), routed)
        self.assertIn(("alltoall", "4096", "bruck"), routed)
        self.assertFalse([r for r in routed if r[0] == "alltoall" and int(r[1]) < 1024], routed)

    def test_shared_memory_algorithms_run_inside_the_job_on_one_segment_per_communicator(self):
        rules = [
            {"collective": "allreduce", "backend": "mpi", "min_bytes": 0, "max_bytes": 4095,
             "choice": {"algorithm": "shm_direct"}},
            {"collective": "allreduce", "backend": "mpi", "min_bytes": 4096, "max_bytes": 18446744073709551615,
             "choice": {"algorithm": "shm_split"}},
            {"collective": "alltoall", "backend": "mpi", "min_bytes": 0, "max_bytes": 18446744073709551615,
             "choice": {"algorithm": "shm"}},
        ]
        self.export(Export.profile(rules))
        before = set(os.listdir("/dev/shm"))
        routed = self.routes(self.client(4))
        self.assertIn(("allreduce", "4", "shm_direct"), routed)
        self.assertIn(("allreduce", "16384", "shm_split"), routed)
        self.assertIn(("alltoall", "16", "shm"), routed)
        # Each segment's name is removed as soon as every rank has mapped it.
        self.assertEqual([n for n in set(os.listdir("/dev/shm")) - before if n.startswith("cctune-")], [])

    def test_without_room_in_dev_shm_the_shared_memory_algorithms_leave_the_job_to_the_library(self):
        # A private 1 MiB /dev/shm (containers often get 64 MiB) cannot hold a 4-rank segment (8 MiB).
        # Open MPI's own shared memory goes to /tmp instead.
        if run(["unshare", "-m", "true"]).returncode != 0:
            self.skipTest("unshare -m is not allowed here")
        self.export(Export.profile([
            {"collective": "allreduce", "backend": "mpi", "min_bytes": 0, "max_bytes": 18446744073709551615,
             "choice": {"algorithm": "shm_split"}},
            {"collective": "alltoall", "backend": "mpi", "min_bytes": 0, "max_bytes": 18446744073709551615,
             "choice": {"algorithm": "shm"}},
        ]))
        command = shlex.join([MPIRUN, "--oversubscribe", "--bind-to", "none", "--mca", "btl_vader_backing_directory",
                              "/tmp", "-np", "4", SHIM_CLIENT])
        proc = run(["unshare", "-m", "bash", "-c",
                    f"mount -t tmpfs -o size=1m tmpfs /dev/shm && source {shlex.quote(self.env)} && {command}; "
                    "status=$?; echo left in /dev/shm: $(ls /dev/shm); exit $status"],
                   timeout=120)
        self.assert_client_passed(proc)
        self.assertRegex(proc.stdout, r"left in /dev/shm: *\n")  # the failed segment's name was removed too
        # One warning per communicator that tried: the world (once, though the client uses it twice) and
        # its duplicate; the 2-rank halves have no rules.
        warnings = [l for l in proc.stderr.splitlines() if "left to the MPI library on this communicator" in l]
        self.assertEqual(len(warnings), 2, proc.stderr)
        self.assertIn("cannot create a shared-memory segment", warnings[0])
        self.assertIn("No space left on device", warnings[0])

    def test_other_rank_counts_and_unreadable_profiles_are_left_to_the_library_with_one_warning(self):
        proc = self.client(3)
        warnings = [l for l in proc.stderr.splitlines() if "tuned for 4 ranks, this job has 3" in l]
        self.assertEqual(len(warnings), 1, proc.stderr)
        self.assertNotIn(" runs ", proc.stderr)
        with open(self.profile) as f:
            text = f.read()
        with open(self.profile, "w") as f:
            f.write(text[: len(text) // 2])
        proc = self.client(4)
        warnings = [l for l in proc.stderr.splitlines() if l.startswith("cctune-mpi:")]
        self.assertEqual(len(warnings), 1, proc.stderr)
        self.assertIn("not valid JSON", warnings[0])

    def test_item7_a_fifo_as_the_jobs_profile_is_one_warning_and_never_blocks_the_job(self):
        # The env file names profile.json; a FIFO put there once blocked every rank's first collective.
        os.remove(self.profile)
        os.mkfifo(self.profile)
        proc = self.client(4)  # under the job's timeout: a blocked rank fails it
        warnings = [l for l in proc.stderr.splitlines() if l.startswith("cctune-mpi:")]
        self.assertEqual(len(warnings), 1, proc.stderr)
        self.assertIn("not a regular file", warnings[0])
        self.assertNotIn(" runs ", proc.stderr)

    def test_a_profile_tuned_on_other_hardware_is_left_to_the_library_with_one_warning(self):
        this_node = run([CCTUNE, "topo", "--fingerprint"]).stdout.strip()
        self.assertRegex(this_node, r"^[0-9a-f]{16}$")
        for fingerprint in (this_node, "0123456789abcdef"):
            with self.subTest(fingerprint=fingerprint):
                profile = json.loads(Export.profile(self.RULES))
                profile["shape"]["fingerprint"] = fingerprint
                self.export(json.dumps(profile))
                proc = self.client(4)
                warnings = [l for l in proc.stderr.splitlines() if "tuned on nodes with fingerprint" in l]
                if fingerprint == this_node:
                    self.assertEqual(warnings, [], proc.stderr)
                    self.assertIn(" runs ", proc.stderr)
                else:
                    self.assertEqual(len(warnings), 1, proc.stderr)
                    self.assertIn(f"this job's node has {this_node}", warnings[0])
                    self.assertNotIn(" runs ", proc.stderr)

    def test_cctune_itself_measures_the_library_even_under_the_env_file(self):
        proc = self.job(4, [CCTUNE, "bench", "--algorithm", "mpi", "-b", "16K", "-e", "16K", "-n", "2", "--no-progress"])
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertNotIn("cctune-mpi:", proc.stderr)


class Results(unittest.TestCase):
    """The results history: bench records itself; list, show, export and import read it back."""

    def results(self, db, *args):
        return run([CCTUNE, "results", "--db", db, *args])

    def test_list_limit_is_read_as_written_NumbersWrappedByCli11(self):
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "results.db")
            for _ in range(10):
                self.assertEqual(self.results(db, "import", NCCL_TESTS_LOG).returncode, 0)
            proc = self.results(db, "list", "-n", "010")  # ten, not eight
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(len([l for l in proc.stdout.splitlines() if l.strip() and not l.startswith("#")]), 10)
            proc = self.results(db, "list", "-n", "0x10")
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertEqual(cctune_lines(proc.stderr), ["cctune: error: -n '0x10' is not a whole number (1 to 1000000)"])

    def test_bench_records_its_run_and_results_reads_it_back(self):
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "history", "results.db")
            json_path = os.path.join(tmp, "out.json")
            proc = run(mpirun(3, "bench", "--collective", "allreduce", "--algorithm", "ring", "-b", "1K", "-e", "4K",
                              "-n", "7", "--rounds", "3", "-w", "1", "--no-progress", "--db", db, "-J", json_path))
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn(f"# Recorded as run 1 in {db}", proc.stdout)
            self.assertIn(" warmup iters: 1 iters: 7 agg iters: 1 validation: 1 graph: 0 unalign: 0\n", proc.stdout)
            self.assertRegex(proc.stdout, r"# cctune .* bench: backend mpi, 3 ranks on 1 node\(s\), .*, rounds: 3\n")
            proc = self.results(db, "list")
            self.assertEqual(proc.returncode, 0, proc.stderr)
            listed = [l.split() for l in proc.stdout.splitlines() if not l.startswith("#")]
            self.assertEqual(len(listed), 1)
            self.assertEqual(listed[0][:5], ["1", listed[0][1], "bench", "3", "1"])
            proc = self.results(db, "show", "1")
            self.assertEqual(proc.returncode, 0, proc.stderr)
            rows = [l.split() for l in proc.stdout.splitlines() if l.strip().startswith("allreduce")]
            self.assertEqual([(r[3], r[4]) for r in rows],
                             [("1024", "out"), ("1024", "in"), ("2048", "out"), ("2048", "in"), ("4096", "out"),
                              ("4096", "in")])
            exported = os.path.join(tmp, "record.json")
            proc = self.results(db, "export", "1", "-o", exported)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(exported) as f:
                record = json.load(f)
            self.assertEqual(record["nranks"], 3)
            self.assertTrue(all(len(m["samples_us"]) == 7 for m in record["measurements"]))
            # The bench file's rows and the record's agree, sample for sample.
            with open(json_path) as f:
                bench = json.load(f)
            self.assertEqual(record["measurements"][0]["samples_us"],
                             bench["results"][0]["cctune"]["out_of_place"]["times_us"])
            self.assertEqual(bench["cctune"]["config"]["rounds"], 3)
            self.assertEqual(record["environment"]["config"]["rounds"], 3)
            # Both files import as new records.
            proc = self.results(db, "import", exported, json_path)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn("as record 2", proc.stdout)
            self.assertIn("as record 3", proc.stdout)
            # The -J file read back is the run: compared with the recorded run, nothing changed.
            proc = run([CCTUNE, "compare", "--db", db, "1", "3"])
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            self.assertIn("# no regression in 6 comparisons", proc.stdout)
            self.assertNotIn("not compared", proc.stdout)

    def test_bad_files_and_databases_give_one_line_and_store_nothing(self):
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "results.db")
            good = os.path.join(tmp, "good.json")
            proc = run(mpirun(2, "bench", "-b", "1K", "-e", "1K", "-n", "2", "--no-progress", "--db", db, "-J", good))
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(good) as f:
                text = f.read()
            truncated = os.path.join(tmp, "truncated.json")
            with open(truncated, "w") as f:
                f.write(text[: len(text) // 2])
            other = os.path.join(tmp, "other.json")
            with open(other, "w") as f:
                f.write('{"hello": "world"}')
            for path, expected in ((truncated, "not valid JSON"), (other, "not a cctune bench JSON file"),
                                   (os.path.join(tmp, "missing.json"), "no such file")):
                with self.subTest(path=path):
                    # The good file first: a bad one later in the list must still store nothing.
                    proc = self.results(db, "import", good, path)
                    self.assertEqual(proc.returncode, 2, proc.stderr)
                    lines = cctune_lines(proc.stderr)
                    self.assertEqual(len(lines), 1, proc.stderr)
                    self.assertIn(expected, lines[0])
            proc = self.results(db, "list")
            self.assertEqual(len([l for l in proc.stdout.splitlines() if not l.startswith("#")]), 1)
            proc = self.results(db, "show", "99")
            self.assertEqual(proc.returncode, 2)
            self.assertIn("no record 99", proc.stderr)

            garbage = os.path.join(tmp, "garbage.db")
            with open(garbage, "w") as f:
                f.write("not a database " * 500)
            size = os.path.getsize(garbage)
            proc = self.results(garbage, "list")
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertEqual(len(cctune_lines(proc.stderr)), 1, proc.stderr)
            self.assertIn("not a readable cctune results database", proc.stderr)
            # Named on bench's command line, a bad database stops the run before it measures anything.
            proc = run(mpirun(2, "bench", "-b", "1K", "-e", "1K", "-n", "2", "--no-progress", "--db", garbage))
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertEqual(len(cctune_lines(proc.stderr)), 1, proc.stderr)
            self.assertNotIn("Avg bus bandwidth", proc.stdout)
            self.assertEqual(os.path.getsize(garbage), size)


    def test_item6_a_locked_database_gives_up_after_the_bound_with_one_line(self):
        import sqlite3
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "results.db")
            self.assertEqual(self.results(db, "import", NCCL_TESTS_LOG).returncode, 0)
            # Another process holds the database: in exclusive locking mode it keeps even readers out.
            holder = sqlite3.connect(db, isolation_level=None)
            holder.execute("PRAGMA locking_mode=EXCLUSIVE")
            holder.execute("BEGIN EXCLUSIVE")
            holder.execute("INSERT INTO meta(key, value) VALUES ('held', 'by the test')")
            commands = {"list": [CCTUNE, "results", "--db", db, "list"],
                        "import": [CCTUNE, "results", "--db", db, "import", NCCL_TESTS_LOG],
                        "bench": mpirun(2, "bench", "-b", "1K", "-e", "1K", "-n", "2", "--no-progress", "--db", db)}
            start = time.monotonic()
            procs = {name: subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                            stdin=subprocess.DEVNULL) for name, command in commands.items()}
            try:
                outputs = {name: proc.communicate(timeout=120) for name, proc in procs.items()}
            finally:
                for proc in procs.values():
                    proc.kill()
            elapsed = time.monotonic() - start
            holder.rollback()
            holder.close()
            self.assertLess(elapsed, 60)  # the bound is 30 s, once, however often SQLite retries
            for name, (stdout, stderr) in outputs.items():
                with self.subTest(command=name):
                    self.assertEqual(procs[name].returncode, 2, stdout + stderr)
                    lines = cctune_lines(stderr)
                    self.assertEqual(len(lines), 1, stderr)
                    self.assertIn(f"{db}: the results database is locked by another process", lines[0])
                    self.assertIn("after waiting 30 s", lines[0])
                    self.assertNotIn("Avg bus bandwidth", stdout)
            # Nothing was stored meanwhile, and the lock gone, the database reads as before.
            proc = self.results(db, "list")
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(len([l for l in proc.stdout.splitlines() if not l.startswith("#")]), 1)

    def hold_after_rows(self, db, proc, measurements=2):
        """Another process takes the write lock as soon as `measurements` are in the database."""
        import sqlite3
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            if not os.path.exists(db):
                continue
            reader = sqlite3.connect(db, timeout=5)
            try:
                rows = reader.execute("SELECT count(*) FROM measurements").fetchone()[0]
            except sqlite3.OperationalError:
                rows = 0
            reader.close()
            if rows >= measurements:
                holder = sqlite3.connect(db, isolation_level=None, timeout=10)
                holder.execute("BEGIN IMMEDIATE")
                holder.execute("INSERT INTO meta(key, value) VALUES ('held', 'by the test')")
                return holder
        self.fail("the first rows never reached the database")

    def test_item6_a_lock_taken_mid_run_costs_one_line_and_the_sweep_goes_on(self):
        with tempfile.TemporaryDirectory() as tmp:
            db, json_path = os.path.join(tmp, "results.db"), os.path.join(tmp, "out.json")
            # Rank 0 sleeps 0.3 s in every timed call: 6 sizes, 2 calls each, in and out of place.
            proc = subprocess.Popen(mpirun(2, "bench", "--collective", "allreduce", "--algorithm", "ring", "-b", "1K",
                                           "-e", "32K", "-n", "2", "-w", "0", "-c", "0", "--inject-delay", "0:0.3",
                                           "--no-progress", "--db", db, "-J", json_path),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    stdin=subprocess.DEVNULL)
            holder = None
            try:
                holder = self.hold_after_rows(db, proc)  # kept to the end: the last try waits 30 s in vain
                stdout, stderr = proc.communicate(timeout=120)
            finally:
                proc.kill()
                if holder is not None:
                    holder.rollback()
                    holder.close()
            self.assertEqual(proc.returncode, 1, stdout + stderr)
            lines = cctune_lines(stderr)
            # One line when the lock is first met (a row waits 1 s at most), one when the end gives up.
            self.assertEqual(len(lines), 2, stderr)
            self.assertIn(f"{db}: the results database is locked by another process", lines[0])
            self.assertIn("after waiting 1 s; the sweep goes on", lines[0])
            self.assertIn(f"{db}: the results database is locked by another process", lines[1])
            self.assertIn("after waiting 30 s", lines[1])
            self.assertRegex(lines[1], r"\d+ row\(s\) of this run are not in the database")
            self.assertNotIn("# Recorded as run", stdout)
            with open(json_path) as f:
                document = json.load(f)
            self.assertTrue(document["cctune"]["complete"])
            self.assertEqual(len(document["results"]), 6)  # the sweep went on to its end
            record = json.loads(run([CCTUNE, "results", "--db", db, "export", "1"]).stdout)
            self.assertFalse(record["complete"])
            self.assertGreaterEqual(len(record["measurements"]), 2)
            self.assertLess(len(record["measurements"]), 12)

    def test_item6_a_lock_held_past_the_timeout_mid_run_does_not_stop_the_job_and_every_row_is_stored(self):
        import sqlite3
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "results.db")
            # 11 sizes of 1.2 s each on rank 0; the lock is held 8 s, twice -T: a row stored while the
            # others wait in the next collective once kept rank 0 that long, and the watchdog aborted the job.
            proc = subprocess.Popen(mpirun(2, "bench", "--collective", "allreduce", "--algorithm", "ring", "-b", "1K",
                                           "-e", "1M", "-n", "2", "-w", "0", "-c", "0", "--inject-delay", "0:0.3",
                                           "-T", "4", "--no-progress", "--db", db),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    stdin=subprocess.DEVNULL)
            holder = None
            stored_before_the_end = False
            try:
                holder = self.hold_after_rows(db, proc)
                time.sleep(8)
                holder.rollback()
                holder.close()
                holder = None
                # The rows kept go in with the next row, not only at the end.
                while proc.poll() is None and not stored_before_the_end:
                    time.sleep(0.2)
                    reader = sqlite3.connect(db, timeout=5)
                    stored_before_the_end = reader.execute("SELECT count(*) FROM measurements").fetchone()[0] > 8
                    reader.close()
                stdout, stderr = proc.communicate(timeout=120)
            finally:
                proc.kill()
                if holder is not None:
                    holder.rollback()
                    holder.close()
            self.assertEqual(proc.returncode, 0, stdout + stderr)
            self.assertNotIn("watchdog", stderr)
            lines = cctune_lines(stderr)
            self.assertEqual(len(lines), 1, stderr)
            self.assertIn("locked by another process", lines[0])
            self.assertIn("# Recorded as run 1", stdout)
            self.assertTrue(stored_before_the_end)
            record = json.loads(run([CCTUNE, "results", "--db", db, "export", "1"]).stdout)
            self.assertTrue(record["complete"])
            self.assertEqual(len(record["measurements"]), 22)
            self.assertEqual(sorted({m["bytes"] for m in record["measurements"]}), [1024 << i for i in range(11)])

    def test_item13_commands_leave_another_programs_database_untouched(self):
        with tempfile.TemporaryDirectory() as tmp:
            foreign = os.path.join(tmp, "app.db")
            foreign_database(foreign)
            before = snapshot(foreign)
            out = os.path.join(tmp, "r.html")
            for args in (["results", "--db", foreign, "list"], ["results", "--db", foreign, "show", "1"],
                         ["results", "--db", foreign, "export", "1"], ["compare", "1", "1", "--db", foreign],
                         ["report", "1", "--db", foreign, "-o", out],
                         ["results", "--db", foreign, "import", NCCL_TESTS_LOG]):
                with self.subTest(args=args):
                    proc = run([CCTUNE, *args])
                    self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
                    lines = cctune_lines(proc.stderr)
                    self.assertEqual(len(lines), 1, proc.stderr)
                    self.assertIn(f"{foreign}: not a cctune results database (it holds another program's tables: "
                                  "users)", lines[0])
                    self.assertEqual(snapshot(foreign), before)
            proc = run(mpirun(2, "bench", "-b", "1K", "-e", "1K", "-n", "2", "--no-progress", "--db", foreign))
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertEqual(len(cctune_lines(proc.stderr)), 1, proc.stderr)
            self.assertEqual(snapshot(foreign), before)
            self.assertFalse(os.path.exists(out))

    def test_item13_only_commands_that_write_create_a_database(self):
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "new", "results.db")
            proc = self.results(db, "list")
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn("no results database yet", proc.stdout)
            for args, expected in ((["results", "--db", db, "show", "1"], "no record 1"),
                                   (["compare", "1", "1", "--db", db], "no record 1: there is no results database"),
                                   (["report", "1", "--db", db, "-o", os.path.join(tmp, "r.html")], "no record 1")):
                with self.subTest(args=args):
                    proc = run([CCTUNE, *args])
                    self.assertEqual(proc.returncode, 2, proc.stderr)
                    self.assertIn(expected, proc.stderr)
            self.assertFalse(os.path.exists(os.path.dirname(db)))
            self.assertEqual(self.results(db, "import", NCCL_TESTS_LOG).returncode, 0)
            self.assertTrue(os.path.exists(db))
            # An empty file is new too: the first writer gives it the schema.
            empty = os.path.join(tmp, "empty.db")
            open(empty, "w").close()
            self.assertEqual(self.results(empty, "list").returncode, 0)
            self.assertEqual(os.path.getsize(empty), 0)
            self.assertEqual(self.results(empty, "import", NCCL_TESTS_LOG).returncode, 0)

    def test_item22_a_database_the_user_may_only_read_is_listed(self):
        with tempfile.TemporaryDirectory() as tmp:
            folder = os.path.join(tmp, "shared")
            os.mkdir(folder)
            db = os.path.join(folder, "results.db")
            self.assertEqual(self.results(db, "import", NCCL_TESTS_LOG).returncode, 0)
            if os.geteuid() == 0:
                os.chmod(tmp, 0o755)  # the other user may enter, but write nothing here
            else:
                os.chmod(db, 0o444)
                os.chmod(folder, 0o555)
            try:
                before = snapshot(db)
                proc = run(as_unprivileged([CCTUNE, "results", "--db", db, "list"]))
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertEqual(len([l for l in proc.stdout.splitlines() if not l.startswith("#")]), 1)
                proc = run(as_unprivileged([CCTUNE, "results", "--db", db, "show", "1"]))
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertIn("1048576", proc.stdout)
                # Writing it is one line in our words, exit 2.
                proc = run(as_unprivileged([CCTUNE, "results", "--db", db, "import", NCCL_TESTS_LOG]))
                self.assertEqual(proc.returncode, 2, proc.stderr)
                lines = cctune_lines(proc.stderr)
                self.assertEqual(len(lines), 1, proc.stderr)
                self.assertIn(f"{db}: ", lines[0])
                self.assertRegex(lines[0], "cannot be written|cannot open")
                self.assertEqual(snapshot(db), before)
            finally:
                os.chmod(folder, 0o755)

    def test_item22_a_read_only_database_with_changes_in_its_wal_is_refused_not_read_short(self):
        import sqlite3
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "results.db")
            self.assertEqual(self.results(db, "import", NCCL_TESTS_LOG).returncode, 0)
            # A second record committed to the WAL only: the writer keeps its connection, no checkpoint.
            writer = sqlite3.connect(db, isolation_level=None)
            writer.execute("PRAGMA wal_autocheckpoint=0")
            writer.execute("INSERT INTO runs(kind, started, ended, command, cctune_version, git_revision, nranks, "
                           "nnodes, fingerprint, environment, source, complete) SELECT kind, started, ended, command, "
                           "cctune_version, git_revision, nranks, nnodes, fingerprint, environment, source, complete "
                           "FROM runs WHERE id = 1")
            folder = os.path.join(tmp, "shared")
            os.mkdir(folder)
            shared = os.path.join(folder, "results.db")
            shutil.copyfile(db, shared)
            shutil.copyfile(db + "-wal", shared + "-wal")
            writer.close()
            self.assertGreater(os.path.getsize(shared + "-wal"), 0)
            if os.geteuid() == 0:
                os.chmod(tmp, 0o755)  # the other user may enter and read, but write nothing here
            else:
                os.chmod(folder, 0o555)
            try:
                proc = run(as_unprivileged([CCTUNE, "results", "--db", shared, "list"]))
                listed = [l for l in proc.stdout.splitlines() if not l.startswith("#")]
                if proc.returncode == 0:
                    self.assertEqual(len(listed), 2, proc.stdout)  # every record, never silently fewer
                else:
                    self.assertEqual(proc.returncode, 2, proc.stderr)
                    lines = cctune_lines(proc.stderr)
                    self.assertEqual(len(lines), 1, proc.stderr)
                    self.assertIn(f"{shared}-wal", lines[0])
                    self.assertEqual(listed, [])
            finally:
                os.chmod(folder, 0o755)

    def test_item4_list_show_export_and_compare_into_a_full_stdout_fail_in_one_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "results.db")
            self.assertEqual(self.results(db, "import", NCCL_TESTS_LOG).returncode, 0)
            for args in (["results", "--db", db, "list"], ["results", "--db", db, "show", "1"],
                         ["results", "--db", db, "export", "1"], ["compare", "1", "1", "--db", db]):
                with self.subTest(args=args):
                    proc = run_into_dev_full([CCTUNE, *args])
                    self.assertEqual(proc.returncode, 1, proc.stderr)
                    lines = cctune_lines(proc.stderr)
                    self.assertEqual(len(lines), 1, proc.stderr)
                    self.assertIn("standard output", lines[0])

    def test_item22_control_characters_in_imported_logs_never_reach_the_terminal(self):
        with tempfile.TemporaryDirectory() as tmp:
            with open(NCCL_TESTS_LOG) as f:
                text = f.read()
            # A title escape in the command line, a screen clear in a type name.
            text = text.replace("# nThread 1", "# nThread 1 \x1b]0;owned\x07\x9b2J", 1)
            text = text.replace(" float ", " fl\x1b[2Joat ", 1)
            log = os.path.join(tmp, "evil.txt")
            with open(log, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(text)
            db = os.path.join(tmp, "results.db")
            self.assertEqual(self.results(db, "import", log).returncode, 0)
            outputs = [self.results(db, "list"), self.results(db, "show", "1"),
                       run([CCTUNE, "compare", "1", "1", "--db", db]),
                       run([CCTUNE, "compare", "1", log, "--db", db, "--markdown"])]
            for proc in outputs:
                with self.subTest(args=proc.args):
                    self.assertEqual(proc.returncode, 0, proc.stderr)
                    for control in ("\x1b", "\x07", "\x9b"):
                        self.assertNotIn(control, proc.stdout + proc.stderr)
            self.assertIn("fl?[2Joat", outputs[2].stdout)

    def test_item21_record_ids_out_of_range_are_refused_not_clamped(self):
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "results.db")
            self.assertEqual(self.results(db, "import", NCCL_TESTS_LOG).returncode, 0)
            for args in (["results", "--db", db, "show", "99999999999999999999"],
                         ["results", "--db", db, "export", "9223372036854775808"],
                         ["compare", "99999999999999999999", "1", "--db", db],
                         ["report", "99999999999999999999", "--db", db, "-o", os.path.join(tmp, "r.html")]):
                with self.subTest(args=args):
                    proc = run([CCTUNE, *args])
                    self.assertEqual(proc.returncode, 2, proc.stderr)
                    lines = cctune_lines(proc.stderr)
                    self.assertEqual(len(lines), 1, proc.stderr)
                    self.assertRegex(lines[0], r"record id '\d+': not a whole number from 1 to 9223372036854775807")


class Compare(unittest.TestCase):
    SWEEP = ["--collective", "allreduce", "--algorithm", "ring,rabenseifner", "-b", "8K", "-e", "32K", "-f", "4",
             "-n", "20", "-w", "2", "--no-progress"]

    def bench(self, db, *extra):
        proc = run(mpirun(4, "bench", *self.SWEEP, "--db", db, *extra))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return re.search(r"# Recorded as run (\d+)", proc.stdout).group(1)

    def test_a_slowed_algorithm_is_named_and_fails_the_junit_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "results.db")
            baseline = self.bench(db)
            # Rank 0 sleeps 5 ms in every timed ring call: hundreds of times slower, far beyond any noise.
            slowed = self.bench(db, "--inject-delay", "0:0.005:0:ring")
            junit, markdown = os.path.join(tmp, "compare.xml"), os.path.join(tmp, "compare.md")
            proc = run([CCTUNE, "compare", baseline, slowed, "--db", db, "--threshold", "300%", "--junit", junit,
                        "--markdown-file", markdown])
            self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
            named = re.search(r"# REGRESSION at (\d+) of (\d+) comparisons: (.*)", proc.stdout)
            self.assertIsNotNone(named, proc.stdout)
            self.assertEqual(named.group(2), "8")  # 2 algorithms x 2 sizes x 2 placements
            self.assertEqual(sorted(named.group(3).split("; ")),
                             sorted(f"allreduce ring float sum {p} {s}" for p in ("in-place", "out-of-place")
                                    for s in (8192, 32768)))
            import xml.etree.ElementTree as ET
            suite = ET.parse(junit).getroot().find("testsuite")
            self.assertEqual(suite.get("tests"), "8")
            failed = [case.get("name") for case in suite.findall("testcase") if case.find("failure") is not None]
            self.assertEqual(len(failed), 4)
            self.assertTrue(all(" ring " in name for name in failed), failed)
            with open(markdown) as f:
                self.assertIn("4 regression(s)", f.read())
            # A run against itself: identical samples, nothing to report, exit 0.
            proc = run([CCTUNE, "compare", baseline, baseline, "--db", db])
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            self.assertIn("# no regression in 8 comparisons", proc.stdout)
            # The same comparison from exported files, and best-of lists.
            exported = os.path.join(tmp, "base.json")
            self.assertEqual(run([CCTUNE, "results", "--db", db, "export", baseline, "-o", exported]).returncode, 0)
            proc = run([CCTUNE, "compare", exported, f"{slowed},{slowed}", "--db", db, "--threshold", "300%"])
            self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
            # Pair by pair: the same four sizes, and nothing when the pairs hold no change.
            proc = run([CCTUNE, "compare", f"{baseline},{exported}", f"{slowed},{slowed}", "--paired", "--db", db,
                        "--threshold", "300%"])
            self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
            self.assertIn("# REGRESSION at 4 of 8 comparisons", proc.stdout)
            proc = run([CCTUNE, "compare", f"{baseline},{slowed}", f"{baseline},{slowed}", "--paired", "--db", db])
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)

    def test_bad_input_gives_one_line_and_exit_2(self):
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "results.db")
            run_id = self.bench(db)
            alltoall = run(mpirun(4, "bench", "--collective", "alltoall", "-b", "1K", "-e", "1K", "-n", "2",
                                  "--no-progress", "--db", db))
            other = re.search(r"# Recorded as run (\d+)", alltoall.stdout).group(1)
            truncated = os.path.join(tmp, "t.json")
            with open(truncated, "w") as f:
                f.write('{"results": [')
            cases = [([run_id, "99"], "no record 99"), ([run_id, truncated], "not valid JSON"),
                     ([run_id, run_id, "--threshold", "abc"], "--threshold 'abc'"),
                     ([run_id, run_id, "--threshold", "5"], "ambiguous"),
                     ([run_id, f"{run_id},"], "empty run id"),
                     ([run_id, other], "nothing to compare"),
                     ([f"{run_id},{run_id}", run_id, "--paired"],
                      "--paired needs as many baseline runs as current runs, two or more (got 2 and 1)"),
                     # Item 15's kind: two outputs naming one file, an output that cannot be written.
                     ([run_id, run_id, "--junit", os.path.join(tmp, "out"), "--markdown-file",
                       os.path.join(tmp, ".", "out")], "name the same file"),
                     ([run_id, run_id, "--junit", os.path.join(tmp, "none", "out.xml")], "does not exist")]
            for args, expected in cases:
                with self.subTest(args=args):
                    proc = run([CCTUNE, "compare", *args, "--db", db])
                    self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
                    lines = cctune_lines(proc.stderr)
                    self.assertEqual(len(lines), 1, proc.stderr)
                    self.assertIn(expected, lines[0])


    def test_item17_five_samples_a_side_still_fail_a_tenfold_slowdown(self):
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "results.db")
            sweep = ["--collective", "allreduce", "--algorithm", "ring", "-b", "8K", "-e", "8K", "-n", "5", "-w", "1",
                     "--no-progress", "--db", db]
            ids = []
            for extra in ([], ["--inject-delay", "0:0.005:0:ring"]):
                proc = run(mpirun(2, "bench", *sweep, *extra))
                self.assertEqual(proc.returncode, 0, proc.stderr)
                ids.append(re.search(r"# Recorded as run (\d+)", proc.stdout).group(1))
            junit = os.path.join(tmp, "compare.xml")
            proc = run([CCTUNE, "compare", *ids, "--db", db, "--junit", junit])
            self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
            self.assertIn("# REGRESSION at 2 of 2 comparisons", proc.stdout)
            self.assertIn("too few samples for the Mann-Whitney test to reach alpha 0.001", proc.stdout)
            self.assertIn("the threshold alone decided them", proc.stdout)
            with open(junit) as f:
                self.assertIn("with 5 and 5 samples no p below alpha 0.001 can occur", f.read())
            proc = run([CCTUNE, "compare", *ids, "--db", db, "--markdown"])
            self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
            self.assertIn("(threshold only)", proc.stdout)

    def test_item18_non_finite_options_and_times_are_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            for option, value in (("--alpha", "nan"), ("--threshold", "nan"), ("--threshold", "inf%"),
                                  ("--alpha", "inf")):
                with self.subTest(option=option, value=value):
                    proc = run([CCTUNE, "compare", NCCL_TESTS_LOG, NCCL_TESTS_LOG, option, value])
                    self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
                    lines = cctune_lines(proc.stderr)
                    self.assertEqual(len(lines), 1, proc.stderr)
                    self.assertIn(option, lines[0])
            # A NaN, zero or negative time is an unreadable row, never "same" or an improvement.
            with open(NCCL_TESTS_LOG) as f:
                text = f.read()
            bad = text.replace("   19.87    0.05", "     nan    0.05").replace("   121.36    8.64", "     0.00    8.64")
            bad = bad.replace("  23310.6    5.76", " -23310.6    5.76")  # three rows, each unreadable
            current = os.path.join(tmp, "bad.txt")
            with open(current, "w") as f:
                f.write(bad)
            proc = run([CCTUNE, "compare", NCCL_TESTS_LOG, current])
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            self.assertIn("# no regression in 4 comparisons", proc.stdout)
            self.assertIn(f"# {current}: 3 unreadable row(s) left out", proc.stdout)
            html = os.path.join(tmp, "r.html")
            proc = run([CCTUNE, "report", current, "-o", html])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(html) as f:
                self.assertNotRegex(f.read(), r"\bnan\b|\binf\b")


class Import(unittest.TestCase):
    """nccl-tests output in its layouts since 2.11 (tests/fixtures/nccl-tests, written from its printf formats)."""
    FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "nccl-tests")

    def fixture(self, name):
        return os.path.join(self.FIXTURES, name)

    def export(self, db, record_id):
        proc = run([CCTUNE, "results", "--db", db, "export", record_id])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return json.loads(proc.stdout)

    def test_logs_become_records(self):
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "results.db")
            proc = run([CCTUNE, "results", "--db", db, "import", self.fixture("v2_19_allreduce.txt")])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn("as record 1", proc.stdout)
            record = self.export(db, "1")
            self.assertEqual((record["kind"], record["nranks"], record["nnodes"]), ("nccl-tests", 2, 2))
            self.assertEqual(len(record["measurements"]), 10)
            row = record["measurements"][6]  # 1 MiB out of place
            self.assertEqual((row["collective"], row["bytes"], row["in_place"], row["root"]),
                             ("allreduce", 1048576, False, -1))
            self.assertEqual((row["median_us"], row["busbw_gbs"], row["wrong"]), (121.36, 8.64, 0))
            self.assertTrue(record["complete"])

            # 2.15: nothing names the binary, so the collective must be given.
            old = self.fixture("v2_15_overflow.txt")
            proc = run([CCTUNE, "results", "--db", db, "import", old])
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn("give --collective", proc.stderr)
            proc = run([CCTUNE, "results", "--db", db, "import", old, "--collective", "allreduce"])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(len(self.export(db, "2")["measurements"]), 8)

            # Up to 2.11: the "error" column is the largest error, kept as such, never as a wrong count.
            proc = run([CCTUNE, "results", "--db", db, "import", self.fixture("v2_11_old_layouts.txt")])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn("[5 of 5] as record 7", proc.stdout)
            allreduce = self.export(db, "3")["measurements"]
            self.assertTrue(all(m["wrong"] == -1 and "max_error" in m for m in allreduce))
            broadcast = self.export(db, "4")["measurements"]
            self.assertEqual({(m["collective"], m["op"], m["root"]) for m in broadcast}, {("broadcast", "none", 0)})

            proc = run([CCTUNE, "results", "--db", db, "import", self.fixture("tag_output_midrow.txt")])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(len(self.export(db, "8")["measurements"]), 10)

            # Logs compare like runs: against itself nothing changed.
            proc = run([CCTUNE, "compare", self.fixture("v2_19_allreduce.txt"), self.fixture("v2_19_allreduce.txt")])
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            self.assertIn("# no regression in 10 comparisons", proc.stdout)

    def test_a_log_of_several_runs_imports_as_one_record_per_run(self):
        # Written here from nccl-tests' printf formats: two binaries, each with its own prelude and footer.
        def run_of(binary, redop, busbw):
            rows = "".join("{:12d}  {:12d}  {:>8}  {:>6}  {:6d}  {:7.2f}  {:6.2f}  {:6.2f}  {:6d}  {:7.2f}  {:6.2f}  "
                           "{:6.2f}  {:6d}\n".format(b, b // 4, "float", redop, -1, 10.0, busbw, busbw, 0, 10.0, busbw,
                                                     busbw, 0) for b in (1024, 2048, 4096))
            return ("# Collective test starting: {b}\n#  Rank  0 Group  0 Pid   1001 on      node1 device  0 "
                    "[0000:1b:00] NVIDIA H100\n#       size         count      type   redop    root     time   algbw   "
                    "busbw  #wrong     time   algbw   busbw  #wrong\n{rows}# Out of bounds values : 0 OK\n"
                    "# Avg bus bandwidth    : {bw:g} \n#\n# Collective test concluded: {b}\n\n").format(
                        b=binary, rows=rows, bw=busbw)
        with tempfile.TemporaryDirectory() as tmp:
            log = os.path.join(tmp, "two.log")
            with open(log, "w") as f:
                f.write(run_of("all_reduce_perf", "sum", 5.0) + run_of("all_gather_perf", "none", 7.0))
            db = os.path.join(tmp, "results.db")
            proc = run([CCTUNE, "results", "--db", db, "import", log])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn(f"stored {log} [1 of 2] as record 1", proc.stdout)
            self.assertIn(f"stored {log} [2 of 2] as record 2", proc.stdout)
            for record_id, collective, busbw in (("1", "allreduce", 5.0), ("2", "allgather", 7.0)):
                record = self.export(db, record_id)
                self.assertEqual({m["collective"] for m in record["measurements"]}, {collective})
                self.assertEqual({m["busbw_gbs"] for m in record["measurements"]}, {busbw})
                self.assertEqual(len(record["measurements"]), 6)
            # compare takes one run per file: the log is refused, naming its runs; by id, nothing changed.
            proc = run([CCTUNE, "compare", log, log])
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn("holds 2 nccl-tests runs (allreduce, allgather)", proc.stderr)
            proc = run([CCTUNE, "compare", "--db", db, "2", "2"])
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            self.assertIn("# no regression in 6 comparisons", proc.stdout)

    def test_nccl_tests_json_takes_its_collective_from_args(self):
        # cctune's -J is nccl-tests' schema plus "cctune" keys: without them it is an nccl-tests file,
        # whose collective comes from the binary in "args".
        with tempfile.TemporaryDirectory() as tmp:
            own = os.path.join(tmp, "own.json")
            proc = run(mpirun(2, "bench", "--collective", "allreduce", "--algorithm", "mpi", "-b", "1K", "-e", "4K",
                              "-n", "3", "--no-progress", "--no-db", "-J", own))
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(own) as f:
                document = json.load(f)
            document["args"] = ["./build/all_reduce_perf", "-b", "1K", "-e", "4K", "-J", "out.json"]
            document.pop("cctune")
            for row in document["results"]:
                row.pop("cctune")
            path = os.path.join(tmp, "nccl.json")
            with open(path, "w") as f:
                json.dump(document, f)
            db = os.path.join(tmp, "results.db")
            proc = run([CCTUNE, "results", "--db", db, "import", path])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            record = self.export(db, "1")
            self.assertEqual(record["kind"], "nccl-tests")
            self.assertEqual({(m["collective"], m["backend"], m["algorithm"]) for m in record["measurements"]},
                             {("allreduce", "nccl", "nccl")})
            self.assertEqual(len(record["measurements"]), 6)
            document["args"] = ["./a.out"]
            with open(path, "w") as f:
                json.dump(document, f)
            proc = run([CCTUNE, "results", "--db", db, "import", path])
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn("give --collective", proc.stderr)

    def test_garbage_lines_are_counted_and_unreadable_logs_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "results.db")
            with open(NCCL_TESTS_LOG) as f:
                log = f.read()
            header = next(line for line in log.splitlines() if "#wrong" in line)
            rows = [line for line in log.splitlines() if line.startswith("        1024") or line.startswith("     1048576")]
            # An NCCL INFO line written into the middle of a row, and two tables pasted side by side.
            interleaved = header + "\n" + rows[0][:60] + "node-a:1:2 [0] NCCL INFO Channel 00/02 : 0 1\n" + \
                rows[0][60:] + "\n"
            side_by_side = header + " | " + header + "\n" + "".join(r + " | " + r + "\n" for r in rows)
            for name, text, unreadable in (("interleaved.txt", interleaved, 1), ("side.txt", side_by_side, 2)):
                with self.subTest(name=name):
                    path = os.path.join(tmp, name)
                    with open(path, "w") as f:
                        f.write(text)
                    proc = run([CCTUNE, "results", "--db", db, "import", path, "--collective", "allreduce"])
                    self.assertEqual(proc.returncode, 2, proc.stderr)
                    lines = cctune_lines(proc.stderr)
                    self.assertEqual(len(lines), 1, proc.stderr)
                    self.assertIn(f"no nccl-tests table rows found ({unreadable} unreadable)", lines[0])
            # A log whose table has an NCCL INFO line written into it: the good rows are kept.
            mixed = os.path.join(tmp, "mixed.txt")
            with open(mixed, "w") as out:
                out.write(log.replace(rows[0], rows[0][:60] + "node-a:1:2 [0] NCCL INFO Channel 00/02 : 0 1\n" +
                                      rows[0][60:]))
            proc = run([CCTUNE, "results", "--db", db, "import", mixed])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn("as record 1 (1 unreadable table line(s) skipped)", proc.stdout)
            self.assertEqual(self.export(db, "1")["environment"]["skipped_lines"], 1)


    def test_item7_fifos_and_devices_are_refused_in_one_line_without_blocking(self):
        with tempfile.TemporaryDirectory() as tmp:
            fifo = os.path.join(tmp, "log.fifo")
            os.mkfifo(fifo)
            out = os.path.join(tmp, "r.html")
            for path in (fifo, "/dev/zero"):
                for args in (["results", "--db", os.path.join(tmp, "db"), "import", path], ["compare", path, path],
                             ["report", path, "-o", out], ["report", NCCL_TESTS_LOG, "--topology", path, "-o", out]):
                    with self.subTest(args=args):
                        proc = run([CCTUNE, *args], timeout=30)
                        self.assertEqual(proc.returncode, 2, proc.stderr)
                        lines = cctune_lines(proc.stderr)
                        self.assertEqual(len(lines), 1, proc.stderr)
                        self.assertIn(f"{path}: ", lines[0])
                        self.assertIn("not a regular file", lines[0])
            self.assertFalse(os.path.exists(out))

    def test_item10_a_fifty_thousand_character_line_is_read_not_a_crash(self):
        with tempfile.TemporaryDirectory() as tmp:
            with open(NCCL_TESTS_LOG) as f:
                text = f.read()
            log = os.path.join(tmp, "long.txt")
            with open(log, "w") as f:
                # std::regex recursed once per character here and overflowed the stack.
                f.write(text + "#  Rank  2 Group  0 Pid 1 on " + "x" * 50000 + " device  0\n")
                f.write("[1,0]<stdout>:" + " " * 50000 + "\n")
                f.write("      131072         32768     float     sum  " + "1" * 50000 + "\n")
            db = os.path.join(tmp, "results.db")
            proc = run([CCTUNE, "results", "--db", db, "import", log], timeout=60)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn("as record 1 (1 unreadable table line(s) skipped)", proc.stdout)
            self.assertEqual(self.export(db, "1")["nranks"], 2)
            proc = run([CCTUNE, "compare", log, NCCL_TESTS_LOG], timeout=60)
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            proc = run([CCTUNE, "report", log, "-o", os.path.join(tmp, "r.html")], timeout=60)
            self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_item21_numbers_out_of_range_are_refused_or_unreadable_not_wrapped(self):
        with tempfile.TemporaryDirectory() as tmp:
            with open(NCCL_TESTS_LOG) as f:
                text = f.read()
            log = os.path.join(tmp, "wrong.txt")
            with open(log, "w") as f:
                f.write(text.replace("8.64       0   120.94", "8.64   1e300   120.94"))
            db = os.path.join(tmp, "results.db")
            proc = run([CCTUNE, "results", "--db", db, "import", log])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn("(1 unreadable table line(s) skipped)", proc.stdout)
            self.assertTrue(all(m["wrong"] >= 0 for m in self.export(db, "1")["measurements"]))
            bench = os.path.join(tmp, "bench.json")
            for key, value, expected in (("size", -1, "results[0].size: -1 is not a whole number from 0 to "),
                                         ("size", 2.7, "results[0].size: 2.7 is not a whole number"),
                                         ("count", 1e300, "results[0].count: 1e+300 is not a whole number")):
                with self.subTest(key=key, value=value):
                    with open(bench, "w") as f:
                        json.dump({"config": {}, "args": "all_reduce_perf",
                                   "results": [{"size": 8, "count": 2, key: value, "out_of_place": {"time": 1.0}}]}, f)
                    proc = run([CCTUNE, "results", "--db", db, "import", bench])
                    self.assertEqual(proc.returncode, 2, proc.stderr)
                    lines = cctune_lines(proc.stderr)
                    self.assertEqual(len(lines), 1, proc.stderr)
                    self.assertIn(f"{bench}: {expected}", lines[0])
                    self.assertNotIn("json.exception", lines[0])


class Report(unittest.TestCase):
    """The HTML report, opened by a real browser: headless Chromium must draw every curve."""

    def render(self, html):
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        self.assertIsNotNone(chromium, "Chromium is needed (scripts/setup.sh installs Debian's chromium)")
        proc = run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                    "--dump-dom", "file://" + html], timeout=120)
        body = re.search(r'<body data-series-total="(\d+)" data-series-drawn="(\d+)"', proc.stdout)
        self.assertIsNotNone(body, proc.stdout[:500] + proc.stderr[-2000:])
        return int(body.group(1)), int(body.group(2))

    def test_report_is_self_contained_and_every_curve_is_drawn(self):
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "results.db")
            proc = run(mpirun(4, "bench", "--collective", "allreduce", "--algorithm", "mpi,ring", "-b", "1K", "-e",
                              "64K", "-n", "5", "-w", "1", "--no-progress", "--db", db))
            self.assertEqual(proc.returncode, 0, proc.stderr)
            topology = os.path.join(tmp, "topo.json")
            proc = run(mpirun(2, "topo", "--json", topology))
            self.assertEqual(proc.returncode, 0, proc.stderr)
            html = os.path.join(tmp, "report.html")
            gb10 = NCCL_TESTS_LOG
            proc = run([CCTUNE, "report", "1", gb10, "--db", db, "--topology", topology, "-o", html])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(html) as f:
                text = f.read()
            # Nothing to fetch: no links, no external scripts, styles, images or fonts.
            self.assertIsNone(re.search(r'(src|href)\s*=|@import|url\(', text))
            self.assertEqual(re.findall(r"https?://[^\s\"']+", text), ["http://www.w3.org/2000/svg"] * text.count("<svg"))
            self.assertIn("<h2>Topology</h2>", text)
            # allreduce: 3 bandwidth curves (mpi, ring, nccl-tests' nccl) and the bench run's speed of
            # light (the imported log has none); per curve a latency chart with a median and, where p99 is
            # known (not in nccl-tests logs), a p99 line: 3 + 1 + 2 + 2 + 1.
            self.assertEqual(text.count('speed of light"'), 1)
            total, drawn = self.render(html)
            self.assertEqual((total, drawn), (9, 9))

    def test_bad_runs_and_topology_give_one_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "r.html")
            bad_topology = os.path.join(tmp, "t.json")
            with open(bad_topology, "w") as f:
                f.write('{"not": "topology"}')
            gb10 = NCCL_TESTS_LOG
            for args, expected in ((["7", "--db", os.path.join(tmp, "db")], "no record 7"),
                                   ([gb10, "--topology", bad_topology], "not the JSON that cctune topo --json writes"),
                                   ([os.path.join(tmp, "missing.txt")], "no such file")):
                with self.subTest(args=args):
                    proc = run([CCTUNE, "report", *args, "-o", out])
                    self.assertEqual(proc.returncode, 2, proc.stderr)
                    self.assertEqual(len(cctune_lines(proc.stderr)), 1, proc.stderr)
                    self.assertIn(expected, proc.stderr)
                    self.assertFalse(os.path.exists(out))


    def test_item22_a_topology_with_values_of_the_wrong_kind_is_one_line_exit_2(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "r.html")
            for document in ({"node_types": [{"hosts": [1], "model": {}}]},
                             {"gpus": [], "nics": [{"rdma": "yes"}]}):
                with self.subTest(document=document):
                    topology = os.path.join(tmp, "t.json")
                    with open(topology, "w") as f:
                        json.dump(document, f)
                    proc = run([CCTUNE, "report", NCCL_TESTS_LOG, "--topology", topology, "-o", out])
                    self.assertEqual(proc.returncode, 2, proc.stderr)
                    lines = cctune_lines(proc.stderr)
                    self.assertEqual(len(lines), 1, proc.stderr)
                    self.assertIn(f"{topology}: not the JSON that cctune topo --json writes", lines[0])
                    self.assertNotIn("json.exception", proc.stderr)
                    self.assertFalse(os.path.exists(out))


class Accept(unittest.TestCase):
    SPEC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "accept-cpu.yaml")

    def accept(self, tmp, spec):
        json_path, junit = os.path.join(tmp, "verdicts.json"), os.path.join(tmp, "verdicts.xml")
        proc = run(mpirun(4, "accept", "--spec", spec, "--json", json_path, "--junit", junit))
        return proc, json_path, junit

    def test_one_rank_on_a_node_skips_its_own_checks_unless_the_spec_gives_it_several_gpus(self):
        # One rank has no link inside its node: its busbw is 0 (a local copy), which failed every
        # per-node check on 8 simulated nodes x 1 rank. On a node the spec gives 8 GPUs, one rank is a
        # wrong launch and fails.
        with tempfile.TemporaryDirectory() as tmp:
            with open(self.SPEC) as f:
                text = f.read()
            node_only = os.path.join(tmp, "node-only.yaml")
            with open(node_only, "w") as f:
                f.write(text.replace("scope: both", "scope: node"))
            json_path = os.path.join(tmp, "v.json")
            proc = run(mpirun(1, "accept", "--spec", node_only, "--json", json_path, "--junit", os.path.join(tmp, "v.xml")))
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            with open(json_path) as f:
                verdicts = [v for v in json.load(f)["verdicts"] if v["check"].startswith(("allreduce", "alltoall"))]
            self.assertEqual([(v["status"], v["fault"]) for v in verdicts], [("skip", "ONE_RANK")] * 3)
            eight = os.path.join(tmp, "eight.yaml")
            with open(eight, "w") as f:
                f.write(text.replace("scope: both", "scope: node").replace("gpus: {count: 0}", "gpus: {count: 8}"))
            proc = run(mpirun(1, "accept", "--spec", eight, "--json", json_path, "--junit", os.path.join(tmp, "v.xml")))
            self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
            with open(json_path) as f:
                verdicts = [v for v in json.load(f)["verdicts"] if v["check"].startswith(("allreduce", "alltoall"))]
            self.assertEqual([(v["status"], v["fault"], v["measured"], v["expected"]) for v in verdicts],
                             [("FAIL", "ONE_RANK", "1 rank", "8 ranks")] * 3)

    def test_the_cpu_spec_passes_here_and_an_impossible_floor_fails_in_junit(self):
        import xml.etree.ElementTree as ET
        with tempfile.TemporaryDirectory() as tmp:
            proc, json_path, junit = self.accept(tmp, self.SPEC)
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            self.assertIn("# ACCEPTED: 9 passed, 0 failed, 0 skipped", proc.stdout)
            with open(json_path) as f:
                verdicts = json.load(f)
            self.assertTrue(verdicts["passed"])
            self.assertEqual({v["subject"] for v in verdicts["verdicts"]}, {socket_host(), "allocation"})
            # Each collective verdict says how often it was measured (retests included) and its spread;
            # a node check measures nothing.
            for v in verdicts["verdicts"]:
                collective = v["check"].startswith(("allreduce", "alltoall"))
                self.assertTrue(1 <= v["repeats"] <= 3 if collective else v["repeats"] == 0, v)
                self.assertGreaterEqual(v["spread"], 0, v)
                if collective:
                    self.assertRegex(v["detail"], r"^\d measurements?, spread ", v)
            suite = ET.parse(junit).getroot().find("testsuite")
            self.assertEqual((suite.get("tests"), suite.get("failures")), ("9", "0"))

            with open(self.SPEC) as f:
                impossible = f.read().replace("min_busbw: 0.2GB/s", "min_busbw: 100000GB/s")
            spec = os.path.join(tmp, "impossible.yaml")
            with open(spec, "w") as f:
                f.write(impossible)
            proc, json_path, junit = self.accept(tmp, spec)
            self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
            # The allocation missed too, so isolation ran: with no slow rank it names none (a skip).
            self.assertIn("# NOT ACCEPTED: 7 passed, 2 failed, 1 skipped", proc.stdout)
            suite = ET.parse(junit).getroot().find("testsuite")
            self.assertEqual((suite.get("tests"), suite.get("failures"), suite.get("skipped")), ("10", "2", "1"))
            failed = [(c.get("classname"), c.get("name"), c.find("failure").get("type"))
                      for c in suite.findall("testcase") if c.find("failure") is not None]
            self.assertEqual(sorted(failed), sorted([(socket_host(), "allreduce 1 MiB busbw >= 100000 GB/s", "BUSBW_LOW"),
                                                     ("allocation", "allreduce 1 MiB busbw >= 100000 GB/s", "BUSBW_LOW")]))
            # Far beyond its spread: failed at once, never retested.
            with open(json_path) as f:
                missed = [v for v in json.load(f)["verdicts"] if v["fault"] == "BUSBW_LOW"]
            self.assertEqual([v["repeats"] for v in missed], [1, 1])

    def accept_with_one_slow_rank(self, ranks, slow):
        """An allocation check that `slow`, sleeping 2 ms in every call, fails: the whole verdict file."""
        with tempfile.TemporaryDirectory() as tmp:
            spec = os.path.join(tmp, "spec.yaml")
            with open(spec, "w") as f:
                # About 4-5 GB/s here; one rank sleeping 2 ms in every call brings the allocation far below 2.
                f.write("version: 1\ncollectives:\n"
                        "  - {collective: allreduce, size: 1MiB, min_busbw: 2GB/s, scope: allocation}\n")
            json_path = os.path.join(tmp, "verdicts.json")
            proc = run(mpirun(ranks, "accept", "--spec", spec, "--json", json_path, "--junit",
                              os.path.join(tmp, "v.xml"), "--inject-delay", f"{slow}:0.002"))
            self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
            with open(json_path) as f:
                return json.load(f)

    def test_isolation_names_the_slowed_rank(self):
        verdicts = self.accept_with_one_slow_rank(4, 2)["verdicts"]
        self.assertEqual(verdicts[0]["fault"], "BUSBW_LOW")
        named = [(v["subject"], v["fault"]) for v in verdicts if v["check"].startswith("isolation:")]
        self.assertEqual(named, [(f"rank 2 ({socket_host()})", "SLOW_RANK")])

    def test_isolation_names_the_one_slow_of_three_though_most_pairs_are_slow(self):
        # Issue 16's failing case: of 3 participants with one slow, two of the three pairs are slow, so
        # judging pairs against the median pair (once: one group of all three) named nobody.
        result = self.accept_with_one_slow_rank(3, 1)
        isolation = [v for v in result["verdicts"] if v["check"].startswith("isolation:")]
        self.assertEqual([(v["subject"], v["fault"]) for v in isolation], [(f"rank 1 ({socket_host()})", "SLOW_RANK")])
        # The cost: every pair of 3 once, then the named one again beside the fastest other, two
        # measurements a round (each all pairs of the round at once).
        self.assertRegex(isolation[0]["detail"], r"again in a retest with a faster partner \(4 of 4 rounds, 8 measurements, [0-9.]+ s\)$")
        cost = result["isolation"]
        self.assertEqual([(c["check"], c["rounds"], c["planned_rounds"], c["measurements"]) for c in cost],
                         [("allreduce 1 MiB busbw >= 2 GB/s", 4, 4, 8)])
        self.assertGreater(cost[0]["seconds"], 0)

    def test_a_hung_rank_fails_the_check_in_progress_and_keeps_the_verdicts_reached(self):
        import xml.etree.ElementTree as ET
        with tempfile.TemporaryDirectory() as tmp:
            json_path, junit = os.path.join(tmp, "verdicts.json"), os.path.join(tmp, "verdicts.xml")
            # Rank 3 sleeps 30 s in every timed call: the watchdog (-T 2) ends the job long before.
            start = time.monotonic()
            drain = os.path.join(tmp, "drain.txt")
            proc = run(mpirun(4, "accept", "--spec", self.SPEC, "--json", json_path, "--junit", junit, "-T", "2",
                              "--inject-delay", "3:30", "--drain-list", drain), timeout=120)
            self.assertEqual(proc.returncode, 124, proc.stdout + proc.stderr)
            self.assertLess(time.monotonic() - start, 60)
            with open(json_path) as f:
                verdicts = json.load(f)["verdicts"]
            self.assertEqual([v["status"] for v in verdicts[:3]], ["pass"] * 3)  # the node checks, reached first
            # The check in progress, then the host of the late rank on that check.
            hung, host = verdicts[-2:]
            self.assertEqual((hung["status"], hung["fault"]), ("FAIL", "RANK_HUNG"))
            self.assertIn(f"3 ({socket_host()})", hung["detail"])
            self.assertIn("allreduce 1 MiB", hung["detail"])
            self.assertEqual((host["subject"], host["check"], host["fault"], host["measured"]),
                             (socket_host(), hung["check"], "RANK_HUNG", "not arrived"))
            self.assertIn("rank 3 had not reached the stuck call", host["detail"])
            failures = [c.find("failure").get("type") for c in ET.parse(junit).getroot().iter("testcase")
                        if c.find("failure") is not None]
            self.assertEqual(failures, ["RANK_HUNG", "RANK_HUNG"])
            # The aborted job's drain list, written by the watchdog before the abort, names the host.
            with open(drain) as f:
                self.assertEqual([line.split("\t")[:2] for line in f.read().splitlines()], [[socket_host(), "RANK_HUNG"]])

    def test_a_launcher_that_stops_reading_stderr_cannot_hold_the_verdict_or_the_abort(self):
        # A launcher that has stopped reading (srun, with a node of the job lost) leaves the rank's
        # stderr a full pipe: the watchdog's line used to block there, before the verdict files and
        # the abort, and the job hung with neither. One rank without a launcher (no singleton server,
        # which would write MPI_Abort's message into the same full pipe), each call of 256 MiB far
        # longer than -T 0.01, stderr a pipe filled to the brim that nobody reads.
        with tempfile.TemporaryDirectory() as tmp:
            spec = os.path.join(tmp, "spec.yaml")
            with open(spec, "w") as f:
                f.write("version: 1\nrun: {iterations: 100, warmup: 0}\ncollectives:\n"
                        "  - {collective: allreduce, size: 256MiB, min_busbw: 0.001GB/s, scope: allocation}\n")
            json_path, drain = os.path.join(tmp, "verdicts.json"), os.path.join(tmp, "drain.txt")
            read_end, write_end = os.pipe()
            flags = fcntl.fcntl(write_end, fcntl.F_GETFL)
            fcntl.fcntl(write_end, fcntl.F_SETFL, flags | os.O_NONBLOCK)
            try:
                while True:
                    os.write(write_end, b"x" * 4096)
            except BlockingIOError:
                pass
            fcntl.fcntl(write_end, fcntl.F_SETFL, flags)
            env = dict(os.environ, OMPI_MCA_ess_singleton_isolated="1")
            job = subprocess.Popen([CCTUNE, "accept", "--spec", spec, "--json", json_path, "--junit",
                                    os.path.join(tmp, "v.xml"), "--drain-list", drain, "-T", "0.01"],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=write_end, env=env)
            os.close(write_end)
            try:
                code = job.wait(timeout=120)
            except subprocess.TimeoutExpired:
                job.kill()
                job.wait()
                code = None
            finally:
                os.close(read_end)
            self.assertEqual(code, 124, "the job did not end by the watchdog's abort (None: still running at 120 s)")
            with open(json_path) as f:
                verdicts = json.load(f)["verdicts"]
            self.assertEqual([(v["status"], v["fault"]) for v in verdicts[-1:]], [("FAIL", "RANK_HUNG")])
            self.assertIn("did not finish within 0.01 s", verdicts[-1]["detail"])

    def test_a_rank_that_dies_leaves_the_check_in_progress_failed(self):
        with tempfile.TemporaryDirectory() as tmp:
            json_path = os.path.join(tmp, "verdicts.json")
            # Rank 3 is slowed so that the first collective check is surely in progress when it is killed.
            job = subprocess.Popen(mpirun(4, "accept", "--spec", self.SPEC, "--json", json_path, "--junit",
                                          os.path.join(tmp, "v.xml"), "-T", "0", "--inject-delay", "3:30"),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                victim = None
                deadline = time.monotonic() + 60
                while victim is None and time.monotonic() < deadline:
                    time.sleep(0.2)
                    if not os.path.exists(json_path) or "INTERRUPTED" not in open(json_path).read():
                        continue
                    for pid in filter(str.isdigit, os.listdir("/proc")):
                        try:
                            environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
                            cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
                        except OSError:
                            continue
                        if b"OMPI_COMM_WORLD_RANK=3" in environ and json_path.encode() in cmdline:
                            victim = int(pid)
                self.assertIsNotNone(victim, "rank 3 never reached its first collective check")
                os.kill(victim, 9)
                job.communicate(timeout=60)
            finally:
                if job.poll() is None:
                    job.kill()
                    job.communicate()
            self.assertNotEqual(job.returncode, 0)
            with open(json_path) as f:
                result = json.load(f)
            self.assertFalse(result["passed"])
            verdicts = result["verdicts"]
            self.assertEqual([v["status"] for v in verdicts[:3]], ["pass"] * 3)
            self.assertEqual((verdicts[-1]["status"], verdicts[-1]["fault"]), ("FAIL", "INTERRUPTED"))
            self.assertIn("allreduce 1 MiB", verdicts[-1]["check"])

    def assert_spec_error(self, tmp, spec, expected):
        json_path, junit = os.path.join(tmp, "verdicts.json"), os.path.join(tmp, "verdicts.xml")
        for path in (json_path, junit):
            with open(path, "w") as f:
                f.write("earlier run")
        proc = run(mpirun(4, "accept", "--spec", spec, "--json", json_path, "--junit", junit), timeout=60)
        self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
        lines = cctune_lines(proc.stderr)
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertIn(expected, lines[0])
        self.assertNotIn("BUSBW_LOW", proc.stdout)
        for path in (json_path, junit):  # a refused run leaves an earlier run's verdicts as they were
            with open(path) as f:
                self.assertEqual(f.read(), "earlier run")
        return lines[0]

    def test_item15_empty_duplicate_and_multi_document_specs_are_refused(self):
        cases = {
            "empty": ("version: 1\n", ": nothing to check"),
            "empty list": ("version: 1\ncollectives: []\n", ": nothing to check"),
            "duplicate": ("version: 1\nnode:\n  numa_nodes: 1\n  numa_nodes: 2\n",
                          ":4: node.numa_nodes: duplicate key (first given at line 3)"),
            "two documents": ("version: 1\nnode: {numa_nodes: 1}\n---\nversion: 1\n", ":4: ---: 2 YAML documents"),
        }
        with tempfile.TemporaryDirectory() as tmp:
            for name, (text, expected) in cases.items():
                with self.subTest(name=name):
                    spec = os.path.join(tmp, "spec.yaml")
                    with open(spec, "w") as f:
                        f.write(text)
                    self.assert_spec_error(tmp, spec, spec + expected)

    def test_item15_a_billion_laughs_spec_is_one_line_and_exit_2_at_once(self):
        # 500 bytes of aliases, &aN [*aN-1 x10] ten deep, are 1e10 nodes to a walk of the tree: this
        # used to spin for hours on every rank.
        text = "version: 1\nnode: {numa_nodes: 1}\nx0: &a0 [lol]\n" + "".join(
            f"x{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]\n" for n in range(1, 11))
        with tempfile.TemporaryDirectory() as tmp:
            spec = os.path.join(tmp, "spec.yaml")
            with open(spec, "w") as f:
                f.write(text)
            proc = run(mpirun(4, "accept", "--spec", spec, "--json", "", "--junit", ""), timeout=30)
            self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
            lines = cctune_lines(proc.stderr)
            self.assertEqual(len(lines), 1, proc.stderr)
            self.assertIn(spec + ":4: aliases (*a0) are not allowed in a spec", lines[0])

    def test_item15_json_and_junit_on_one_file_are_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            same = os.path.join(tmp, "verdicts")
            proc = run(mpirun(4, "accept", "--spec", self.SPEC, "--json", same, "--junit", same), timeout=60)
            self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
            lines = cctune_lines(proc.stderr)
            self.assertEqual(len(lines), 1, proc.stderr)
            self.assertIn(f"--json '{same}' and --junit '{same}' name the same file", lines[0])
            self.assertEqual(os.listdir(tmp), [])

    def test_item19_sizes_below_one_element_or_past_64_bits_are_spec_errors_before_anything_runs(self):
        head = "version: 1\ncollectives:\n  - {collective: "
        cases = {
            "3B": (head + "allreduce, size: 3B, min_busbw: 0.1GB/s}\n",
                   ":3: collectives[0].size: 3 B is smaller than one float element (4 B)"),
            "1e30B": (head + "allreduce, size: 1e30B, min_busbw: 0.1GB/s}\n",
                      ":3: collectives[0].size: '1e30B' is 1e+30 bytes, more than 64 bits can count"),
            "16GiB": (head + "allreduce, size: 16GiB, min_busbw: 0.1GB/s}\n",
                      ":3: collectives[0].size: 16 GiB is more than the 2147483647 float elements"),
            "alltoall 8B on 4 ranks": (head + "alltoall, size: 8B, max_latency: 1s}\n",
                                       ":3: collectives[0].size: alltoall of 8 B on 4 ranks"),
        }
        with tempfile.TemporaryDirectory() as tmp:
            for name, (text, expected) in cases.items():
                with self.subTest(name=name):
                    spec = os.path.join(tmp, "spec.yaml")
                    with open(spec, "w") as f:
                        f.write(text)
                    line = self.assert_spec_error(tmp, spec, spec + expected)
                    self.assertNotIn(" -e", line)  # accept has no -e option (item 22)

    def test_item11_verdicts_lost_on_a_full_stdout_fail_with_one_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            spec = os.path.join(tmp, "spec.yaml")
            with open(spec, "w") as f:
                f.write("version: 1\nnode: {numa_nodes: 1}\n")
            json_path = os.path.join(tmp, "v.json")
            proc = run_into_dev_full([CCTUNE, "accept", "--spec", spec, "--json", json_path, "--junit", ""])
            self.assertEqual(proc.returncode, 1, proc.stderr)
            lines = cctune_lines(proc.stderr)
            self.assertEqual(len(lines), 1, proc.stderr)
            self.assertIn("cannot write to standard output", lines[0])
            with open(json_path) as f:
                self.assertTrue(json.load(f)["passed"])  # the verdicts themselves are whole

    def test_item21_a_nan_timeout_or_budget_is_refused(self):
        for option in ("-T", "--budget"):
            with self.subTest(option=option):
                proc = run([CCTUNE, "accept", "--spec", self.SPEC, option, "nan", "--json", "", "--junit", ""],
                           timeout=30)
                self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
                lines = cctune_lines(proc.stderr)
                self.assertEqual(len(lines), 1, proc.stderr)
                self.assertIn(f"{option} nan must be a number of seconds from 0 to 86400", lines[0])
                self.assertEqual(proc.stdout, "")

    def test_item7_a_fifo_or_dev_zero_as_the_spec_is_one_line_and_exit_2(self):
        with tempfile.TemporaryDirectory() as tmp:
            fifo = os.path.join(tmp, "spec.fifo")
            os.mkfifo(fifo)
            for spec in (fifo, "/dev/zero"):
                with self.subTest(spec=spec):
                    proc = run([CCTUNE, "accept", "--spec", spec, "--json", "", "--junit", ""], timeout=30)
                    self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
                    lines = cctune_lines(proc.stderr)
                    self.assertEqual(len(lines), 1, proc.stderr)
                    self.assertIn(spec + ": the spec: not a regular file", lines[0])

    def test_bad_specs_name_the_key_and_line(self):
        cases = {
            "unknown key": ("version: 1\nnode:\n  gpus: {count: 0}\n  nicks: {count: 1}\n", ":4: node.nicks: unknown key"),
            "missing unit": ("version: 1\ncollectives:\n  - {collective: allreduce, size: 1MiB, min_busbw: 5}\n",
                             ":3: collectives[0].min_busbw: '5' needs a unit"),
            "impossible": ("version: 1\nnode:\n  numa_nodes: 0\n", ":3: node.numa_nodes: 0 is impossible"),
            # One algorithm for every check: refused before the allreduce check measures, not at alltoall.
            "algorithm": ("version: 1\nrun: {algorithm: ring}\ncollectives:\n"
                          "  - {collective: allreduce, size: 1KiB, min_busbw: 1GB/s}\n"
                          "  - {collective: alltoall, size: 1KiB, min_busbw: 1GB/s}\n",
                          ":5: collectives[1] is alltoall, and run.algorithm 'ring' is not one of backend mpi's "
                          "alltoall algorithms"),
        }
        with tempfile.TemporaryDirectory() as tmp:
            for name, (text, expected) in cases.items():
                with self.subTest(name=name):
                    spec = os.path.join(tmp, "spec.yaml")
                    with open(spec, "w") as f:
                        f.write(text)
                    proc, json_path, _ = self.accept(tmp, spec)
                    self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
                    lines = cctune_lines(proc.stderr)
                    self.assertEqual(len(lines), 1, proc.stderr)
                    self.assertIn(spec + expected, lines[0])
                    self.assertFalse(os.path.exists(json_path))


def socket_host():
    """The host name MPI reports (MPI_Get_processor_name is gethostname on Linux)."""
    import socket
    return socket.gethostname()


if __name__ == "__main__":
    unittest.main()
