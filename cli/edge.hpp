#pragma once
// The program's edge: exceptions become one line on stderr and an exit code.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace cctune {
class Communicator;
}

namespace cctune::bench {
struct RunInfo;
}

namespace cctune::results {
class Store;
struct Record;
}

namespace cctune::cli {

enum ExitCode : int { kOk = 0, kFailed = 1, kUsage = 2 };

// True on the process that should speak for the job: rank 0, or a process started without a launcher.
bool speaks_for_job();
// "cctune: error: MESSAGE" on stderr from the speaking rank only; returns the exit code for this
// process: kUsage where it spoke, kOk on the other ranks of a launched job (see edge.cpp).
int report_usage_error(std::string_view message);

// files::write_file_atomically: the old file or the new one, never half of either, no temporary left.
void write_file_atomically(const std::filesystem::path& path, const std::string& text);

// libcctune-mpi.so as built or installed with this cctune (absolute), or "" when it is in neither place.
std::string mpi_shim_path();
// This cctune's own absolute path, or "" when the system cannot say.
std::string self_path();

// The command line as typed, for records and JSON files.
std::string join_command_line(int argc, char** argv);

// Stores a finished run's record with `append` and returns its id. The default database failing now
// (another process holds the lock, the disk is full) is one warning and no id, as in bench: the job's
// work is done and printed, and its exit code says how that went. A database named with --db
// (`explicit_db` not empty) must take the record: its failure is the job's, after the report is out.
std::optional<std::int64_t> record_or_warn(const std::string& explicit_db,
                                           const std::function<std::int64_t()>& append);

// Collective over `world`: its rank 0 opens the results database for this run (null elsewhere, and
// with no_db). A database named by `explicit_path` must open, or every rank throws the same
// UsageError before anything is measured; the default one only costs a warning.
std::unique_ptr<results::Store> open_run_store(const Communicator& world, const std::string& explicit_path,
                                               bool no_db, const std::string& earlier_error = {});

// A run named on the command line: an id in the results database (db, or the default one), or a file
// (results::load_record_file). Throws UsageError for an unknown id or a bad file.
results::Record load_run(const std::string& spec, const std::string& db,
                         const std::optional<std::string>& collective);

// A record of this run as the results store keeps it, without measurements: kind ("tune", "verify"),
// the run's start, command, build and shape, ended now.
results::Record run_record(std::string kind, const bench::RunInfo& info, const std::string& fingerprint);

// The edge of a command once MPI is initialised. body(rank) sets rank as soon as it knows it.
// A UsageError is raised alike on every rank (each check is collective), so rank 0 prints it and every
// rank returns kUsage; any other error may be on one rank only, so that rank prints it. Every rank
// then meets the others at the end; one that failed and finds the others not coming within a bound
// (they wait for it in a collective) aborts the job. No rank is in MPI_Finalize while another aborts.
int run_mpi_job(const std::function<int(int& rank)>& body);

// Inside run_mpi_job's body, what one rank does alone once the others are done (rank 0 printing and
// writing the outputs): any error there is that rank's only and nobody waits on it, so it is printed
// in one line and kFailed returned, and the job ends through MPI_Finalize, not MPI_Abort.
int on_this_rank_alone(const std::function<int()>& part);

}  // namespace cctune::cli
