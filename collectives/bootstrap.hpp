#pragma once
// Process bootstrap: who am I, how many are we, and small exchanges between ranks. Every backend
// (MPI, NCCL, CUDA) is bootstrapped over this MPI layer.
#include <mpi.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cctune {

// Throws cctune::Error naming the MPI call and MPI's own error string when rc is not MPI_SUCCESS.
void check_mpi(int rc, std::string_view call, const char* file, int line);
#define CCTUNE_MPI(call) ::cctune::check_mpi((call), #call, __FILE__, __LINE__)

// The rank this process will have, read from the launcher's environment before MPI_Init, so that a
// usage error can be reported by one rank only without any communication.
std::optional<int> launcher_rank();

// When the launcher left this process free to run on every CPU and started several ranks on this node,
// binds it to one CPU, chosen by its local rank (round-robin over the CPUs it may use, as mpirun's
// --map-by core would). Unbound ranks are placed anew by the kernel at every launch, and which ranks
// share a core then changes the timings between launches by up to 1.5x (docs/bench.md). Call before
// MPI_Init. CCTUNE_PIN=0 turns it off. Returns the CPU, or -1 when it left the process as it was.
int pin_to_one_cpu_if_unbound();

// Owns MPI_Init_thread / MPI_Finalize.
class MpiRuntime {
 public:
  // thread_multiple: the watchdog thread talks MPI while the main thread is inside a collective.
  MpiRuntime(int& argc, char**& argv, bool thread_multiple);
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

  // "Open MPI 4.1.4" style: the library's name and version as MPI_Get_library_version reports it.
  static std::string library_version();

 private:
  bool owns_ = false;
};

// Owns a duplicate of an MPI communicator, with errors returned (and turned into exceptions) rather
// than aborting inside the library.
class Communicator {
 public:
  static Communicator duplicate(MPI_Comm parent);
  Communicator(Communicator&& other) noexcept;
  Communicator& operator=(Communicator&& other) noexcept;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;
  ~Communicator();

  MPI_Comm get() const { return comm_; }
  int rank() const { return rank_; }
  int size() const { return size_; }

  void barrier() const;
  // Every rank's value, in rank order, on every rank.
  std::vector<std::string> allgather(const std::string& mine) const;
  // Every rank's string on rank 0 (empty vector elsewhere): for payloads too large to send everywhere.
  std::vector<std::string> gather_to_root(const std::string& mine) const;
  std::vector<double> allgather(double mine) const;
  long long sum(long long mine) const;
  double max(double mine) const;
  // Element-wise maximum of equally long vectors, on every rank.
  std::vector<double> max(const std::vector<double>& mine) const;

 private:
  explicit Communicator(MPI_Comm comm);
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
};

// Host name of this process (what MPI_Get_processor_name reports).
std::string processor_name();

}  // namespace cctune
