#include "collectives/bootstrap.hpp"

#include <sched.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "collectives/error.hpp"

namespace cctune {

void check_mpi(int rc, std::string_view call, const char* file, int line) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  throw MpiError(std::string(call.substr(0, call.find('('))) + " failed: " + std::string(text, length),
                 file, line);
}

std::optional<int> launcher_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"}) {
    if (const char* value = std::getenv(name)) {
      char* end = nullptr;
      const long rank = std::strtol(value, &end, 10);
      if (end != value && *end == '\0' && rank >= 0) return static_cast<int>(rank);
    }
  }
  return std::nullopt;
}

namespace {

struct LocalPlace {
  int rank = -1, size = 0;  // this process on its node, as the launcher says; size 0 when none does
};

LocalPlace local_place() {
  for (const auto& [rank_variable, size_variable] :
       {std::pair{"OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"},
        std::pair{"SLURM_LOCALID", "SLURM_TASKS_PER_NODE"}, std::pair{"MPI_LOCALRANKID", "MPI_LOCALNRANKS"}}) {
    const char* rank = std::getenv(rank_variable);
    const char* size = std::getenv(size_variable);
    if (rank != nullptr && size != nullptr) return {std::atoi(rank), std::atoi(size)};  // "4(x2)" reads as 4
  }
  return {};
}

}  // namespace

int pin_to_one_cpu_if_unbound() {
  const char* pin = std::getenv("CCTUNE_PIN");
  if (pin != nullptr && std::string_view(pin) == "0") return -1;
  const LocalPlace place = local_place();
  if (place.size <= 1 || place.rank < 0) return -1;
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return -1;
  // Bound already (by mpirun, srun --cpu-bind, taskset): the user's placement stands.
  if (CPU_COUNT(&allowed) < static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN))) return -1;
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &allowed)) cpus.push_back(cpu);
  }
  if (cpus.size() <= 1) return -1;
  const int chosen = cpus[static_cast<std::size_t>(place.rank) % cpus.size()];
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(chosen, &one);
  return sched_setaffinity(0, sizeof(one), &one) == 0 ? chosen : -1;
}

MpiRuntime::MpiRuntime(int& argc, char**& argv, bool thread_multiple) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return;
  // Lets the "ompi:N" algorithms force Open MPI's coll/tuned choices through MPI_T. Read only at
  // start-up; with nothing forced, Open MPI keeps its own decision. A user's explicit setting wins.
  setenv("OMPI_MCA_coll_tuned_use_dynamic_rules", "1", 0);
  // More ranks on this node than CPUs: a rank that busy-polls while it waits holds the CPU its peer
  // needs, and a microsecond call takes a scheduler time slice (8 ms per 8-byte allreduce under srun
  // here). mpirun sets this itself when it knows it oversubscribes; srun's direct launch does not.
  if (local_place().size > sysconf(_SC_NPROCESSORS_ONLN)) setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
  // A rank that dies closes its TCP sockets, and Open MPI's TCP transport on its neighbours then writes
  // into them: under the default SIGPIPE the neighbour dies too, and the launcher blames a healthy node
  // (on the simulated cluster, srun's first line for a lost node5 was "node6: task 5: Broken pipe").
  // Ignored, the write fails with EPIPE, the neighbour lives, and the watchdog names the rank that is
  // gone. Our own writes check their errors (a closed stdout is one line and exit 1).
  std::signal(SIGPIPE, SIG_IGN);
  const int wanted = thread_multiple ? MPI_THREAD_MULTIPLE : MPI_THREAD_FUNNELED;
  int provided = MPI_THREAD_SINGLE;
  if (MPI_Init_thread(&argc, &argv, wanted, &provided) != MPI_SUCCESS) {
    CCTUNE_THROW("MPI_Init_thread failed");
  }
  if (provided < wanted) {
    MPI_Finalize();  // a throwing constructor runs no destructor
    CCTUNE_THROW("this MPI library does not provide MPI_THREAD_MULTIPLE, which the -T watchdog needs");
  }
  owns_ = true;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

MpiRuntime::~MpiRuntime() {
  if (owns_) MPI_Finalize();
}

std::string MpiRuntime::library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(text, &length);
  std::string version(text, length);
  // Open MPI appends a long tail (", package: ... , ident: ..."); keep the first clause.
  if (auto comma = version.find(','); comma != std::string::npos) version.resize(comma);
  while (!version.empty() && (version.back() == '\n' || version.back() == ' ')) version.pop_back();
  return version;
}

Communicator::Communicator(MPI_Comm comm) : comm_(comm) {
  CCTUNE_MPI(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  CCTUNE_MPI(MPI_Comm_rank(comm_, &rank_));
  CCTUNE_MPI(MPI_Comm_size(comm_, &size_));
}

Communicator Communicator::duplicate(MPI_Comm parent) {
  MPI_Comm comm = MPI_COMM_NULL;
  CCTUNE_MPI(MPI_Comm_dup(parent, &comm));
  return Communicator(comm);
}

Communicator::Communicator(Communicator&& other) noexcept
    : comm_(std::exchange(other.comm_, MPI_COMM_NULL)), rank_(other.rank_), size_(other.size_) {}

Communicator& Communicator::operator=(Communicator&& other) noexcept {
  if (this != &other) {
    if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
    comm_ = std::exchange(other.comm_, MPI_COMM_NULL);
    rank_ = other.rank_;
    size_ = other.size_;
  }
  return *this;
}

Communicator::~Communicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (comm_ != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm_);
}

void Communicator::barrier() const { CCTUNE_MPI(MPI_Barrier(comm_)); }

std::vector<std::string> Communicator::allgather(const std::string& mine) const {
  const int length = static_cast<int>(mine.size());
  std::vector<int> lengths(size_);
  CCTUNE_MPI(MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, comm_));
  std::vector<int> offsets(size_, 0);
  for (int i = 1; i < size_; ++i) offsets[i] = offsets[i - 1] + lengths[i - 1];
  std::string all(static_cast<std::size_t>(offsets.back() + lengths.back()), '\0');
  CCTUNE_MPI(MPI_Allgatherv(mine.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(),
                            MPI_CHAR, comm_));
  std::vector<std::string> result;
  result.reserve(size_);
  for (int i = 0; i < size_; ++i) result.push_back(all.substr(offsets[i], lengths[i]));
  return result;
}

std::vector<std::string> Communicator::gather_to_root(const std::string& mine) const {
  const int length = static_cast<int>(mine.size());
  std::vector<int> lengths(rank_ == 0 ? size_ : 0);
  CCTUNE_MPI(MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, comm_));
  std::vector<int> offsets(lengths.size(), 0);
  for (std::size_t i = 1; i < lengths.size(); ++i) offsets[i] = offsets[i - 1] + lengths[i - 1];
  std::string all(rank_ == 0 ? static_cast<std::size_t>(offsets.back() + lengths.back()) : 0, '\0');
  CCTUNE_MPI(MPI_Gatherv(mine.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR, 0,
                         comm_));
  std::vector<std::string> result;
  for (std::size_t i = 0; i < lengths.size(); ++i) result.push_back(all.substr(offsets[i], lengths[i]));
  return result;
}

std::vector<double> Communicator::allgather(double mine) const {
  std::vector<double> all(size_);
  CCTUNE_MPI(MPI_Allgather(&mine, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, comm_));
  return all;
}

long long Communicator::sum(long long mine) const {
  long long total = 0;
  CCTUNE_MPI(MPI_Allreduce(&mine, &total, 1, MPI_LONG_LONG, MPI_SUM, comm_));
  return total;
}

double Communicator::max(double mine) const {
  double result = 0;
  CCTUNE_MPI(MPI_Allreduce(&mine, &result, 1, MPI_DOUBLE, MPI_MAX, comm_));
  return result;
}

std::vector<double> Communicator::max(const std::vector<double>& mine) const {
  std::vector<double> result(mine.size());
  CCTUNE_MPI(MPI_Allreduce(mine.data(), result.data(), static_cast<int>(mine.size()), MPI_DOUBLE, MPI_MAX,
                           comm_));
  return result;
}

std::string processor_name() {
  char name[MPI_MAX_PROCESSOR_NAME];
  int length = 0;
  MPI_Get_processor_name(name, &length);
  return std::string(name, length);
}

}  // namespace cctune
