#include "cli/edge.hpp"

#include <mpi.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
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

// How long the ranks wait for each other to agree that a usage error was seen everywhere. Checks made
// before the ranks talk are collective and reach the barrier together in well under a second; an
// error that only some ranks saw after the ranks began talking never gets the others there.
constexpr double kUsageAgreementSeconds = 10.0;

// True when every rank entered the barrier within the bound; false when some never came (they are
// in a collective of their own, or waiting on us), in which case only MPI_Abort ends the job.
bool all_ranks_arrive(const Communicator& agreement) {
  MPI_Request request = MPI_REQUEST_NULL;
  if (MPI_Ibarrier(agreement.get(), &request) != MPI_SUCCESS) return false;
  const double deadline = MPI_Wtime() + kUsageAgreementSeconds;
  int done = 0;
  while (!done && MPI_Wtime() < deadline) {
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (!done) usleep(1000);
  }
  return done != 0;
}

}  // namespace

int run_mpi_job(const std::function<int(int& rank)>& body) {
  int rank = 0;
  // A communicator of its own, so that the agreement cannot be matched with a collective of the body
  // that some ranks are still inside.
  const Communicator agreement = Communicator::duplicate(MPI_COMM_WORLD);
  try {
    return body(rank);
  } catch (const UsageError& e) {
    if (rank == 0 || agreement.size() == 1) {
      std::fprintf(stderr, "cctune: error: %s\n", e.what());
      std::fflush(stderr);
    }
    // Every rank raised it (each check is collective): the others wait until rank 0 has spoken, or
    // mpirun, seeing them exit non-zero first, could kill rank 0 before its line is out. A rank that
    // raised it alone (a file it could not write at the end) must not wait for ranks that never come:
    // it says why and ends the job.
    if (all_ranks_arrive(agreement)) return kUsage;
    if (rank != 0) {
      std::fprintf(stderr, "cctune: rank %d: error: %s\n", rank, e.what());
      std::fflush(stderr);
    }
    MPI_Abort(MPI_COMM_WORLD, kUsage);
    return kUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cctune: rank %d: error: %s\n", rank, e.what());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, kFailed);
    return kFailed;
  }
}

int on_this_rank_alone(const std::function<int()>& part) {
  try {
    return part();
  } catch (const UsageError& e) {
    throw Error(e.what(), e.file(), e.line());
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
