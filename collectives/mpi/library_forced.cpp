// Open MPI's own coll/tuned algorithms, one at a time ("ompi:N"), inside one launch: the control
// variable coll_tuned_<collective>_algorithm is written through MPI_T, a communicator is duplicated
// (coll/tuned reads the forced value when a communicator is created), and the variable is restored.
// Needs Open MPI started with coll_tuned_use_dynamic_rules=1, which cctune sets before MPI_Init.
#include <string>

#include "collectives/error.hpp"
#include "collectives/mpi/algorithm.hpp"
#include "collectives/mpi/algorithms.hpp"

namespace cctune::mpi {
namespace {

// One MPI_T session for the whole process, opened on first use and never finalized: Open MPI 4.1.4
// hangs in MPI_T_init_thread when it is called again after MPI_T_finalize (seen here with a 2-line
// loop), and the process's end releases it anyway.
void open_tools_session() {
  static const bool opened = [] {
    int provided = 0;
    if (MPI_T_init_thread(MPI_THREAD_SINGLE, &provided) != MPI_SUCCESS) CCTUNE_THROW("MPI_T_init_thread failed");
    return true;
  }();
  (void)opened;
}

class ControlVariable {
 public:
  explicit ControlVariable(const std::string& name) : name_(name) {
    int index = 0;
    if (MPI_T_cvar_get_index(name.c_str(), &index) != MPI_SUCCESS) {
      CCTUNE_USAGE_ERROR("algorithm needs Open MPI's coll/tuned: its control variable " + name + " does not exist");
    }
    int count = 0;
    if (MPI_T_cvar_handle_alloc(index, nullptr, &handle_, &count) != MPI_SUCCESS || count != 1) {
      CCTUNE_THROW("cannot open MPI_T control variable " + name);
    }
  }
  ~ControlVariable() { MPI_T_cvar_handle_free(&handle_); }
  ControlVariable(const ControlVariable&) = delete;
  ControlVariable& operator=(const ControlVariable&) = delete;

  int read() const {
    int value = 0;
    if (MPI_T_cvar_read(handle_, &value) != MPI_SUCCESS) CCTUNE_THROW("cannot read " + name_);
    return value;
  }
  void write(int value) {
    if (MPI_T_cvar_write(handle_, &value) != MPI_SUCCESS) CCTUNE_THROW("cannot write " + name_);
  }

 private:
  std::string name_;
  MPI_T_cvar_handle handle_ = nullptr;
};

class ForcedLibraryAlgorithm final : public MpiAlgorithm {
 public:
  ForcedLibraryAlgorithm(Collective collective, int number, std::string_view name, std::string_view description)
      : number_(number), info_{name, collective, description} {}

  const AlgorithmInfo& info() const override { return info_; }

  Communicator communicator(const Communicator& parent) const override {
    open_tools_session();
    ControlVariable dynamic_rules("coll_tuned_use_dynamic_rules");
    if (dynamic_rules.read() == 0) {
      CCTUNE_USAGE_ERROR(std::string(info_.name) +
                         " needs Open MPI started with coll_tuned_use_dynamic_rules=1 (cctune sets it; was "
                         "OMPI_MCA_coll_tuned_use_dynamic_rules=0 given?)");
    }
    ControlVariable forced("coll_tuned_" + std::string(to_string(info_.collective)) + "_algorithm");
    const int previous = forced.read();
    forced.write(number_);
    Communicator comm = Communicator::duplicate(parent.get());
    forced.write(previous);
    return comm;
  }

  void run(const Communicator& comm, const CollectiveArgs& args, Workspace& workspace) const override {
    library_algorithm(info_.collective).run(comm, args, workspace);
  }

 private:
  static const MpiAlgorithm& library_algorithm(Collective collective) {
    static const auto allreduce = make_library_allreduce();
    static const auto alltoall = make_library_alltoall();
    return collective == Collective::allreduce ? *allreduce : *alltoall;
  }

  int number_;
  AlgorithmInfo info_;
};

}  // namespace

std::unique_ptr<MpiAlgorithm> make_forced_library_allreduce(int number) {
  static constexpr std::string_view kNames[] = {"", "ompi:1", "ompi:2", "ompi:3", "ompi:4", "ompi:5", "ompi:6"};
  static constexpr std::string_view kDescriptions[] = {
      "", "Open MPI coll/tuned 1: basic linear (reduce to root, then broadcast)",
      "Open MPI coll/tuned 2: nonoverlapping (reduce, then broadcast)", "Open MPI coll/tuned 3: recursive doubling",
      "Open MPI coll/tuned 4: ring", "Open MPI coll/tuned 5: segmented ring",
      "Open MPI coll/tuned 6: Rabenseifner (reduce-scatter + allgather)"};
  return std::make_unique<ForcedLibraryAlgorithm>(Collective::allreduce, number, kNames[number], kDescriptions[number]);
}

std::unique_ptr<MpiAlgorithm> make_forced_library_alltoall(int number) {
  static constexpr std::string_view kNames[] = {"", "ompi:1", "ompi:2", "ompi:3", "ompi:4"};
  static constexpr std::string_view kDescriptions[] = {
      "", "Open MPI coll/tuned 1: linear (all isend/irecv)", "Open MPI coll/tuned 2: pairwise exchange",
      "Open MPI coll/tuned 3: modified Bruck", "Open MPI coll/tuned 4: linear with synchronisation"};
  return std::make_unique<ForcedLibraryAlgorithm>(Collective::alltoall, number, kNames[number], kDescriptions[number]);
}

}  // namespace cctune::mpi
