// A plain MPI program, as a tenant would write it: it knows nothing of cctune. Run with
// libcctune-mpi.so preloaded (tests/cli: class MpiShim), every result must still be exact, on the
// world, on a duplicate that it frees, and on sub-communicators the profile was not tuned for.
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

int checks = 0;

void expect(bool ok, const char* what, int count, MPI_Comm comm) {
  ++checks;
  if (ok) return;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::fprintf(stderr, "shim_client: rank %d: wrong result: %s, count %d\n", rank, what, count);
  MPI_Abort(comm, 1);
}

void allreduce(MPI_Comm comm, int count) {
  int rank = 0, size = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  // Small integers in float: every order of summation gives the same bits.
  std::vector<float> send(count), recv(count, -1.0f);
  for (int i = 0; i < count; ++i) send[i] = static_cast<float>((rank + 1) * (i % 7 + 1));
  MPI_Allreduce(send.data(), recv.data(), count, MPI_FLOAT, MPI_SUM, comm);
  bool ok = true;
  for (int i = 0; i < count; ++i) ok &= recv[i] == static_cast<float>(size * (size + 1) / 2 * (i % 7 + 1));
  expect(ok, "allreduce float sum", count, comm);

  std::vector<int> values(count);
  for (int i = 0; i < count; ++i) values[i] = (i + rank) % size;
  MPI_Allreduce(MPI_IN_PLACE, values.data(), count, MPI_INT, MPI_MAX, comm);
  ok = true;
  for (int i = 0; i < count; ++i) ok &= values[i] == size - 1;
  expect(ok, "allreduce int max in place", count, comm);
}

void alltoall(MPI_Comm comm, int per_peer) {
  int rank = 0, size = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  std::vector<int> send(static_cast<std::size_t>(per_peer) * size), recv(send.size(), -1);
  for (int peer = 0; peer < size; ++peer) {
    for (int i = 0; i < per_peer; ++i) send[static_cast<std::size_t>(peer) * per_peer + i] = rank * 1000000 + peer * 1000 + i;
  }
  MPI_Alltoall(send.data(), per_peer, MPI_INT, recv.data(), per_peer, MPI_INT, comm);
  bool ok = true;
  for (int peer = 0; peer < size; ++peer) {
    for (int i = 0; i < per_peer; ++i) ok &= recv[static_cast<std::size_t>(peer) * per_peer + i] == peer * 1000000 + rank * 1000 + i;
  }
  expect(ok, "alltoall int", per_peer, comm);
  // The same bytes as MPI_BYTE, in place.
  std::vector<int> inplace = send;
  MPI_Alltoall(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, inplace.data(), per_peer * 4, MPI_BYTE, comm);
  expect(inplace == recv, "alltoall bytes in place", per_peer, comm);
}

void exercise(MPI_Comm comm) {
  for (int count : {1, 5, 100, 1000, 4096, 100000}) allreduce(comm, count);
  for (int per_peer : {1, 3, 256, 20000}) alltoall(comm, per_peer);
}

}  // namespace

// `--time-allreduce BYTES ITERATIONS`: the median time of a float allreduce of BYTES, as a tenant's own
// timing loop sees it (what the env file's Open MPI rules do to a job that is not cctune).
int time_allreduce(int bytes, int iterations) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const int count = bytes / static_cast<int>(sizeof(float));
  std::vector<float> send(static_cast<std::size_t>(count), 1.0f), recv(static_cast<std::size_t>(count));
  for (int i = 0; i < 2; ++i) MPI_Allreduce(send.data(), recv.data(), count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  std::vector<double> slowest(static_cast<std::size_t>(iterations));
  for (int i = 0; i < iterations; ++i) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double start = MPI_Wtime();
    MPI_Allreduce(send.data(), recv.data(), count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    double mine = (MPI_Wtime() - start) * 1e6;
    MPI_Reduce(&mine, &slowest[static_cast<std::size_t>(i)], 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  }
  if (rank == 0) {
    std::sort(slowest.begin(), slowest.end());
    std::printf("shim_client: allreduce %d B median %.3f us\n", bytes, slowest[slowest.size() / 2]);
  }
  MPI_Finalize();
  return 0;
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  if (argc == 4 && std::strcmp(argv[1], "--time-allreduce") == 0) {
    return time_allreduce(std::atoi(argv[2]), std::max(1, std::atoi(argv[3])));
  }
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  exercise(MPI_COMM_WORLD);
  MPI_Comm copy = MPI_COMM_NULL;
  MPI_Comm_dup(MPI_COMM_WORLD, &copy);
  exercise(copy);
  MPI_Comm_free(&copy);
  MPI_Comm half = MPI_COMM_NULL;
  MPI_Comm_split(MPI_COMM_WORLD, rank % 2, rank, &half);
  exercise(half);
  MPI_Comm_free(&half);
  exercise(MPI_COMM_WORLD);
  if (rank == 0) std::printf("shim_client: %d checks passed\n", checks);
  MPI_Finalize();
  return 0;
}
