"""The GPU build and the script around the GPU check, on a machine without a GPU.

Run by ctest (tests/gpu/CMakeLists.txt) with the paths it needs in the environment:
  PatternKernelImages  what the built data kernels carry: PTX for the oldest GPU nvcc supports
  FindNccl             cmake/FindNCCL.cmake pairs a header with the library of its own installation
  GpuCheckProgram      the check program's one line where it does not run
  GpuCheckScript       scripts/gpu-check.sh: its refusals (old CMake, a failed configure) and a whole run
"""
import os
import shutil
import struct
import subprocess
import tempfile
import textwrap
import unittest

SOURCE = os.environ.get("CCTUNE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
TMP = os.environ.get("CCTUNE_TEST_TMP", tempfile.gettempdir())
SCRIPT = os.path.join(SOURCE, "scripts", "gpu-check.sh")


def has_driver():
    """Whether libcuda.so.1 (the NVIDIA driver's library) can be loaded here."""
    import ctypes
    try:
        ctypes.CDLL("libcuda.so.1")
        return True
    except OSError:
        return False


def fatbin_entries(path):
    """(kind, arch) of every image in every CUDA fatbinary inside an object, library or executable.

    kind is "ptx" or "elf" (machine code). The layout is the fatbinary's: a 16-byte header (magic
    0xBA55ED50, version, header size, payload size), then entries, each with its kind, header size,
    payload size and, at byte 28, the architecture (75 for compute_75 / sm_75).
    """
    data = open(path, "rb").read()
    magic = struct.pack("<I", 0xBA55ED50)
    entries = []
    at = data.find(magic)
    while at >= 0:
        _, version, header_size, fat_size = struct.unpack_from("<IHHQ", data, at)
        if version == 1 and header_size == 16:
            entry = at + header_size
            end = entry + fat_size
            while entry + 32 <= end and entry + 32 <= len(data):
                kind, _, entry_header, size = struct.unpack_from("<HHIQ", data, entry)
                arch = struct.unpack_from("<I", data, entry + 28)[0]
                if kind in (1, 2) and entry_header >= 32:
                    entries.append(("ptx" if kind == 1 else "elf", arch))
                if entry_header == 0:
                    break
                entry += entry_header + size
            at = data.find(magic, max(end, at + 4))
        else:
            at = data.find(magic, at + 4)
    return entries


def oldest_nvcc_arch():
    nvcc = os.environ.get("CCTUNE_NVCC", "/usr/local/cuda/bin/nvcc")
    listed = subprocess.run([nvcc, "--list-gpu-arch"], capture_output=True, text=True, check=True).stdout
    return min(int(word.split("_")[1]) for word in listed.split() if word.startswith("compute_"))


class PatternKernelImages(unittest.TestCase):
    def test_data_kernels_carry_ptx_for_the_oldest_gpu_nvcc_supports(self):
        entries = fatbin_entries(os.environ["CCTUNE_GPU_LIBRARY"])
        oldest = oldest_nvcc_arch()  # CUDA 13: compute_75 (Turing, a T4)
        self.assertIn(("ptx", oldest), entries, entries)
        # Machine code stays for A100 and H100, which then load without compiling anything.
        self.assertIn(("elf", 80), entries, entries)
        self.assertIn(("elf", 90), entries, entries)
        cuobjdump = shutil.which("cuobjdump") or (
            "/usr/local/cuda/bin/cuobjdump" if os.path.exists("/usr/local/cuda/bin/cuobjdump") else None)
        if cuobjdump:  # not installed everywhere; where it is, it must agree
            listed = subprocess.run([cuobjdump, "--list-ptx", os.environ["CCTUNE_GPU_LIBRARY"]],
                                    capture_output=True, text=True).stdout
            self.assertIn("sm_%d" % oldest, listed)

    def test_the_cuda_backends_own_kernels_are_unchanged(self):
        # Its kernels need sm_80 whatever they are compiled for: no older image to offer.
        entries = fatbin_entries(os.environ["CCTUNE_CUDA_LIBRARY"])
        self.assertIn(("elf", 80), entries, entries)
        self.assertIn(("ptx", 90), entries, entries)
        self.assertFalse([e for e in entries if e[1] < 80], entries)


def fake_nccl(prefix, header_version, library_version=None, library_dir="lib", library_name="libnccl.so.2"):
    """An NCCL installation as far as CMake can tell: nccl.h's version lines, and a library file
    holding the banner NCCL compiles into itself."""
    major, minor, patch = header_version.split(".")
    os.makedirs(os.path.join(prefix, "include"), exist_ok=True)
    with open(os.path.join(prefix, "include", "nccl.h"), "w") as header:
        header.write("#define NCCL_MAJOR %s\n#define NCCL_MINOR %s\n#define NCCL_PATCH %s\n" % (major, minor, patch))
    if library_version:
        os.makedirs(os.path.join(prefix, library_dir), exist_ok=True)
        with open(os.path.join(prefix, library_dir, library_name), "wb") as library:
            library.write(b"\x7fELF\0\0\0junk\0NCCL version %s+cuda13.0\0more\0" % library_version.encode())


class FindNccl(unittest.TestCase):
    def configure(self, **variables):
        project = tempfile.mkdtemp(dir=self.tmp)
        with open(os.path.join(project, "CMakeLists.txt"), "w") as f:
            f.write(textwrap.dedent("""\
                cmake_minimum_required(VERSION 3.22)
                project(find_nccl NONE)
                list(APPEND CMAKE_MODULE_PATH "%s/cmake")
                find_package(NCCL QUIET)
                message(STATUS "RESULT found=${NCCL_FOUND};lib=${NCCL_LIBRARY};header=${NCCL_VERSION};library=${NCCL_LIBRARY_VERSION}")
                """) % SOURCE)
        args = ["cmake", "-S", project, "-B", os.path.join(project, "build")]
        args += ["-D%s=%s" % item for item in variables.items()]
        run = subprocess.run(args, capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        line = [l for l in run.stdout.splitlines() if "RESULT " in l][0].split("RESULT ")[1]
        return dict(part.split("=", 1) for part in line.split(";")), run.stdout + run.stderr

    def setUp(self):
        os.makedirs(TMP, exist_ok=True)
        self.tmp = tempfile.mkdtemp(dir=TMP)
        # A system installation with both files: a libnccl.so, which the search met first by name.
        self.system = os.path.join(self.tmp, "system")
        fake_nccl(self.system, "2.28.9", "2.28.9", library_dir="lib64", library_name="libnccl.so")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_the_wheels_header_gets_the_wheels_library(self):
        # pip's layout (PyTorch's nvidia-nccl wheel): include/nccl.h and lib/libnccl.so.2 only.
        wheel = os.path.join(self.tmp, "wheel")
        fake_nccl(wheel, "2.27.3", "2.27.3")
        found, output = self.configure(NCCL_ROOT=wheel, CUDAToolkit_ROOT=self.system)
        self.assertEqual(found["found"], "TRUE", output)
        self.assertEqual(found["lib"], os.path.join(wheel, "lib", "libnccl.so.2"), output)
        self.assertEqual(found["header"], "2.27.3")
        self.assertEqual(found["library"], "2.27.3")

    def test_a_library_older_than_its_header_is_refused_with_one_line(self):
        headers_only = os.path.join(self.tmp, "headers")
        fake_nccl(headers_only, "2.29.1")  # no library: the search goes on to the system's 2.28.9
        found, output = self.configure(NCCL_ROOT=headers_only, CUDAToolkit_ROOT=self.system)
        self.assertEqual(found["found"], "FALSE", output)
        refusal = [l for l in output.splitlines() if "cctune: NCCL not used" in l]
        self.assertEqual(len(refusal), 1, output)
        self.assertIn("is 2.29.1 but", refusal[0])
        self.assertIn("is 2.28.9", refusal[0])

    def test_a_newer_library_of_the_same_major_is_accepted_and_said(self):
        headers_only = os.path.join(self.tmp, "headers")
        fake_nccl(headers_only, "2.27.3")
        found, output = self.configure(NCCL_ROOT=headers_only, CUDAToolkit_ROOT=self.system)
        self.assertEqual(found["found"], "TRUE", output)
        self.assertEqual(found["library"], "2.28.9")
        self.assertIn("newer than its header 2.27.3: accepted", output)


class GpuCheckProgram(unittest.TestCase):
    def run_check(self, *args):
        return subprocess.run([os.environ["CCTUNE_GPU_CHECK"], *args], capture_output=True, text=True, timeout=600)

    @unittest.skipIf(has_driver(), "this machine has an NVIDIA driver")
    def test_no_driver_is_no_gpu_here_in_one_line(self):
        run = self.run_check()
        self.assertEqual(run.returncode, 77, run.stdout + run.stderr)
        lines = run.stdout.splitlines()
        self.assertEqual(len(lines), 1, run.stdout)
        self.assertTrue(lines[0].startswith("gpu_check: did not run: no NVIDIA driver here"), lines[0])
        self.assertIn("runtime is 13.", lines[0])

    def test_a_driver_older_than_the_runtime_is_named_not_no_gpu(self):
        # A stand-in libcuda.so.1 that says it is the CUDA 12.4 driver (the 550 series) to this CUDA 13
        # build: the runtime answers "insufficient driver", as with no driver at all.
        environment = dict(os.environ, LD_LIBRARY_PATH=os.environ["CCTUNE_FAKE_DRIVER_DIR"])
        run = subprocess.run([os.environ["CCTUNE_GPU_CHECK"]], capture_output=True, text=True, env=environment,
                             timeout=600)
        self.assertEqual(run.returncode, 1, run.stdout + run.stderr)
        self.assertEqual(len(run.stdout.splitlines()), 1, run.stdout)
        self.assertRegex(run.stdout, r"^gpu_check: did not run: the NVIDIA driver here supports CUDA 12\.4, older "
                                     r"than this build's CUDA runtime 13\.\d: install driver 580 or newer")
        # A driver new enough whose GPUs cannot be initialised: CUDA's own error, with both versions.
        environment["FAKE_CUDA_DRIVER_VERSION"] = "13000"
        run = subprocess.run([os.environ["CCTUNE_GPU_CHECK"]], capture_output=True, text=True, env=environment,
                             timeout=600)
        self.assertEqual(run.returncode, 1, run.stdout + run.stderr)
        self.assertRegex(run.stdout, r"^gpu_check: did not run: CUDA cannot use the GPUs here: cudaError\w+: .* "
                                     r"\(driver for CUDA 13\.0, runtime CUDA 13\.\d\)\n$")

    def test_a_bad_option_is_one_line_and_a_failure(self):
        for args, said in ((["--bogus"], "unknown option --bogus"),
                           (["--processes", "1"], "--processes 1 is not a number from 2 to 64"),
                           (["--estimates"], "--estimates needs a value")):
            run = self.run_check(*args)
            self.assertEqual(run.returncode, 1, run.stdout)
            self.assertEqual(run.stdout.splitlines(), ["gpu_check: did not run: " + said + (
                " (options: --no-bandwidth, --no-two-process, --processes N, --estimates FILE)" if args == ["--bogus"] else "")])


def fake_cmake(folder, version, configure_fails=True):
    """A cmake that says it is `version` and fails to configure, first on PATH."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "cmake")
    with open(path, "w") as f:
        f.write(textwrap.dedent("""\
            #!/bin/sh
            if [ "$1" = "--version" ]; then echo "cmake version %s"; exit 0; fi
            echo "CMake Error at CMakeLists.txt:1 (project):" >&2
            echo "  this fake cmake configures nothing" >&2
            exit 1
            """) % version)
    os.chmod(path, 0o755)
    return folder


class GpuCheckScript(unittest.TestCase):
    def setUp(self):
        os.makedirs(TMP, exist_ok=True)
        self.tmp = tempfile.mkdtemp(dir=TMP)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_script(self, path=None, build=None, **env):
        environment = dict(os.environ)
        environment.pop("OUT", None)
        environment["CCTUNE_GPU_BUILD_DIR"] = build or os.path.join(self.tmp, "build-gpu")
        if path is not None:
            environment["PATH"] = path
        environment.update(env)
        run = subprocess.run([shutil.which("bash"), SCRIPT], capture_output=True, text=True, env=environment, timeout=1100)
        lines = (run.stdout + run.stderr).strip().splitlines()
        return run.returncode, lines[-1] if lines else "", run.stdout + run.stderr

    def test_a_cmake_older_than_the_tree_needs_is_named(self):
        folder = fake_cmake(os.path.join(self.tmp, "bin"), "3.21.6")
        rc, last, output = self.run_script(path=folder + os.pathsep + os.environ["PATH"])
        self.assertEqual(rc, 2, output)
        self.assertRegex(last, r"^gpu-check: did not run: CMake 3\.21\.6 at .*/bin/cmake is older than the "
                               r"3\.22 this tree needs")

    def test_no_cmake_at_all_is_named(self):
        folder = os.path.join(self.tmp, "only")
        os.makedirs(folder)
        for tool in ("dirname", "sed"):  # what the script needs before it looks for cmake
            os.symlink(shutil.which(tool), os.path.join(folder, tool))
        rc, last, output = self.run_script(path=folder)
        self.assertEqual(rc, 2, output)
        self.assertEqual(last, "gpu-check: did not run: no cmake on PATH; CMake 3.22 or newer is needed "
                               "(apt-get install cmake, or pip install cmake)")

    def test_a_configure_failure_is_visible(self):
        # 3.22 is new enough: the version check lets it through, and its failure must then show.
        folder = fake_cmake(os.path.join(self.tmp, "bin"), "3.22.1")
        rc, last, output = self.run_script(path=folder + os.pathsep + os.environ["PATH"])
        self.assertEqual(rc, 2, output)
        self.assertIn("gpu-check: did not run: configuring the GPU-only tree failed: CMake Error at "
                      "CMakeLists.txt:1 (project): this fake cmake configures nothing", last)
        # And one the real cmake finds: an architecture list nvcc cannot take.
        rc, last, output = self.run_script(CCTUNE_GPU_CMAKE_ARGS="-DCMAKE_CUDA_ARCHITECTURES=bogus")
        self.assertEqual(rc, 2, output)
        self.assertIn("gpu-check: did not run: configuring the GPU-only tree failed: CMake Error", last)
        self.assertIn("configure.log", last)

    def test_a_whole_run_builds_the_gpu_only_tree_and_says_why_it_did_not_run(self):
        build = os.path.join(TMP, "build-gpu")  # kept between runs: a second run rebuilds nothing
        rc, last, output = self.run_script(build=build)
        self.assertIn("cctune: CUDA ON", output)
        self.assertTrue(os.access(os.path.join(build, "tests", "gpu", "cctune_gpu_check"), os.X_OK), output)
        if has_driver():
            self.assertIn(rc, (0, 1, 77), output)
        else:
            self.assertEqual(rc, 77, output)
            self.assertRegex(last, r"^gpu-check: did not run: no GPU here: no NVIDIA driver here \(libcuda\.so\.1 "
                                   r"cannot be loaded; this build's CUDA runtime is \d+\.\d\)$")
        # On a driver older than the runtime it says so, and fails (not 77: that is for "no GPU here").
        rc, last, output = self.run_script(build=build, LD_LIBRARY_PATH=os.environ["CCTUNE_FAKE_DRIVER_DIR"])
        self.assertEqual(rc, 1, output)
        self.assertRegex(last, r"^gpu-check: did not run: the NVIDIA driver here supports CUDA 12\.4, older than "
                               r"this build's CUDA runtime 13\.\d: install driver 580 or newer")


if __name__ == "__main__":
    unittest.main()
