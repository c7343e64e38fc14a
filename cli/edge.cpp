#include "cli/edge.hpp"

#include <mpi.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <unistd.h>

#include "collectives/bootstrap.hpp"
#include "collectives/error.hpp"
#include "collectives/files.hpp"
#include "bench/report.hpp"
#include "results/files.hpp"
#include "results/store.hpp"
#include "results/text.hpp"

namespace cctune::cli {

bool speaks_for_job() { return launcher_rank().value_or(0) == 0; }

int report_usage_error(std::string_view message) {
  // Under a launcher, every rank finds the same mistake before MPI_Init, and only rank 0 says so. The
  // others exit 0: mpirun kills a job as soon as one of its processes exits non-zero, and a silent
  // rank exiting 2 first could take rank 0 down before its line is out (seen under load). Rank 0's
  // exit code, 2, is still the job's.
  if (!speaks_for_job()) return kOk;
  if (!message.empty()) std::fprintf(stderr, "cctune: error: %.*s\n", static_cast<int>(message.size()), message.data());
  return kUsage;
}

void write_file_atomically(const std::filesystem::path& path, const std::string& text) {
  files::write_file_atomically(path.string(), text);
}

namespace {

// How long a rank that failed waits for the others at the end of the job. Checks made before the
// ranks talk are collective and reach it together in well under a second; ranks that finished are
// already there; a rank that failed while the others wait for it in a collective never gets them
// there, and then only MPI_Abort ends the job.
constexpr double kUsageAgreementSeconds = 10.0;
constexpr double kFailureAgreementSeconds = 3.0;

// Every rank ends the job here, so that no rank is inside MPI_Finalize while another may still call
// MPI_Abort: Open MPI 4.1's mpirun hung or crashed in about one run of 25 when rank 0 aborted while
// the others were finalizing (a full database at the end of verify; 8 hangs and a SIGSEGV in 200 runs
// here). Each rank gives whether it printed its error as rank 0; the result is the maximum, or nothing
// when some rank did not come within `seconds` (no bound: it waits as long as MPI_Finalize would).
std::optional<int> meet_at_the_end(const Communicator& agreement, int rank0_spoke, std::optional<double> seconds) {
  int spoke = 0;
  MPI_Request request = MPI_REQUEST_NULL;
  if (MPI_Iallreduce(&rank0_spoke, &spoke, 1, MPI_INT, MPI_MAX, agreement.get(), &request) != MPI_SUCCESS) {
    return std::nullopt;
  }
  const double deadline = seconds ? MPI_Wtime() + *seconds : 0.0;
  int done = 0;
  while (!done && (!seconds || MPI_Wtime() < deadline)) {
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (!done) usleep(1000);
  }
  if (!done) return std::nullopt;
  return spoke;
}

void print_error(int rank, bool name_the_rank, const char* what) {
  if (name_the_rank) {
    std::fprintf(stderr, "cctune: rank %d: error: %s\n", rank, what);
  } else {
    std::fprintf(stderr, "cctune: error: %s\n", what);
  }
  std::fflush(stderr);
}

}  // namespace

int run_mpi_job(const std::function<int(int& rank)>& body) {
  int rank = 0;
  // A communicator of its own, so that the agreement cannot be matched with a collective of the body
  // that some ranks are still inside.
  const Communicator agreement = Communicator::duplicate(MPI_COMM_WORLD);
  int code = kOk;
  try {
    code = body(rank);
  } catch (const UsageError& e) {
    // Raised alike on every rank (each check is collective): rank 0 says it, and the others wait for
    // it at the end, or mpirun, seeing them exit non-zero first, could kill rank 0 before its line is
    // out. A rank that raised it alone learns there that rank 0 said nothing, and says it itself.
    const bool speaks = rank == 0 || agreement.size() == 1;
    if (speaks) print_error(rank, false, e.what());
    const std::optional<int> spoke = meet_at_the_end(agreement, speaks ? 1 : 0, kUsageAgreementSeconds);
    const bool rank0_said_it = spoke && *spoke != 0;
    if (!speaks && !rank0_said_it) print_error(rank, true, e.what());
    if (spoke) return kUsage;
    MPI_Abort(MPI_COMM_WORLD, kUsage);
    return kUsage;
  } catch (const std::exception& e) {
    print_error(rank, true, e.what());
    if (meet_at_the_end(agreement, 0, kFailureAgreementSeconds)) return kFailed;
    MPI_Abort(MPI_COMM_WORLD, kFailed);
    return kFailed;
  }
  meet_at_the_end(agreement, 0, std::nullopt);
  return code;
}

int on_this_rank_alone(const std::function<int()>& part) {
  // The others are done and wait at the end of the job, so nothing waits on this rank: it says why
  // and ends as they do.
  try {
    return part();
  } catch (const std::exception& e) {
    print_error(0, false, e.what());
    return kFailed;
  }
}

std::string join_command_line(int argc, char** argv) {
  std::string line;
  for (int i = 0; i < argc; ++i) line += (i ? " " : "") + std::string(argv[i]);
  return line;
}

std::optional<std::int64_t> record_or_warn(const std::string& explicit_db,
                                           const std::function<std::int64_t()>& append) {
  try {
    return append();
  } catch (const Error& e) {
    if (!explicit_db.empty()) throw;
    std::fprintf(stderr, "cctune: warning: not recording this run: %s\n", e.what());
    std::fflush(stderr);
    return std::nullopt;
  }
}

std::unique_ptr<results::Store> open_run_store(const Communicator& world, const std::string& explicit_path,
                                               bool no_db, const std::string& earlier_error) {
  std::unique_ptr<results::Store> store;
  std::string error = earlier_error;
  if (world.rank() == 0 && error.empty() && !no_db) {
    try {
      // Access::write checks that the file is ours and takes the write lock once: a database that
      // another process keeps locked, or that cannot be written, stops the run here, before anything
      // is measured or written.
      store = std::make_unique<results::Store>(results::database_path(explicit_path), results::Access::write);
    } catch (const Error& e) {
      if (!explicit_path.empty()) {
        error = e.what();
      } else {
        std::fprintf(stderr, "cctune: warning: not recording this run: %s\n", e.what());
      }
    }
  }
  if (world.sum(error.empty() ? 0 : 1) != 0) throw UsageError(error, __FILE__, __LINE__);
  return store;
}

results::Record run_record(std::string kind, const bench::RunInfo& info, const std::string& fingerprint) {
  results::Record record;
  record.kind = std::move(kind);
  record.started = info.start_time;
  record.ended = bench::utc_now();
  record.command = info.command_line;
  record.cctune_version = info.cctune_version;
  record.git_revision = info.git_revision;
  record.nranks = info.nranks;
  record.nnodes = info.nnodes;
  record.fingerprint = fingerprint;
  record.complete = true;
  return record;
}

results::Record load_run(const std::string& spec, const std::string& db,
                         const std::optional<std::string>& collective) {
  if (!spec.empty() && spec.find_first_not_of("0123456789") == std::string::npos) {
    const std::int64_t id = results::parse_record_id(spec);
    const std::filesystem::path path = results::database_path(db);
    // Reading a run never creates the database, nor changes a file that is not ours.
    if (!std::filesystem::exists(path)) {
      CCTUNE_USAGE_ERROR("no record " + std::to_string(id) + ": there is no results database at " +
                         results::printable(path.string()));
    }
    results::Store store(path, results::Access::read);
    auto record = store.get(id);
    if (!record) {
      CCTUNE_USAGE_ERROR("no record " + std::to_string(id) + " in the results database " +
                         results::printable(path.string()));
    }
    return std::move(*record);
  }
  return results::load_record_file(spec, collective).record;
}

std::string self_path() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.string();
}

std::string mpi_shim_path() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  // The build tree keeps it in tuner/ beside cli/; an install puts it in lib/ beside bin/.
  for (const fs::path& candidate : {exe.parent_path().parent_path() / "tuner" / "libcctune-mpi.so",
                                    exe.parent_path().parent_path() / "lib" / "libcctune-mpi.so"}) {
    if (fs::exists(candidate, ec)) return candidate.lexically_normal().string();
  }
  return {};
}

}  // namespace cctune::cli
