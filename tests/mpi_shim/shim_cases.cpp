// A tenant's MPI program, knowing nothing of cctune, that uses MPI_Allreduce and MPI_Alltoall the
// many legal ways real programs do: in place, derived, vector, indexed and resized types, layouts that
// differ between ranks (only the type signatures must match), user operations, MPI_COMM_SELF, split
// and duplicated communicators, zero counts, messages larger than the shim's shared segment.
//
// It checks nothing itself. Each rank writes one line per case to OUT.<rank>: the case's name and a
// digest of every byte of its receive buffer, gaps included (they start as 0xA5 and must stay so).
// tests/mpi_shim/run_cases.py runs it with and without libcctune-mpi.so preloaded and compares the
// files: the shim must give exactly the bytes the MPI library gives.
#include <mpi.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

FILE* out = nullptr;
int cases = 0;
const char* only = nullptr;  // SHIM_CASES_ONLY: run only the cases whose name contains it (for bisecting)

bool skipped(const std::string& name) { return only != nullptr && name.find(only) == std::string::npos; }

std::uint64_t digest(const void* data, std::size_t bytes) {
  // FNV-1a: any changed, moved or missing byte changes it.
  std::uint64_t hash = 1469598103934665603ull;
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < bytes; ++i) hash = (hash ^ p[i]) * 1099511628211ull;
  return hash;
}

void record(const std::string& comm_name, const std::string& name, const void* data, std::size_t bytes, int rc) {
  ++cases;
  std::fprintf(out, "%s/%s rc=%d bytes=%zu %016llx\n", comm_name.c_str(), name.c_str(), rc, bytes,
               static_cast<unsigned long long>(digest(data, bytes)));
}

struct Comm {
  MPI_Comm comm;
  std::string name;
  int rank = 0;
  int size = 1;
};

// Integer values (as float or double too) whose sums are exact in every order, so that any correct
// algorithm gives the library's bits. Distinct per rank, element and case.
template <typename T>
T value(int rank, std::size_t i, int salt) {
  return static_cast<T>(static_cast<int>((rank * 7 + static_cast<int>(i % 1013) * 3 + salt) % 211) - 100);
}

template <typename T>
void allreduce_case(const Comm& c, const std::string& name, MPI_Datatype type, MPI_Op op, int count, bool in_place,
                    std::size_t misalign = 0) {
  if (skipped(name)) return;
  // Misaligned cases place the data an odd number of bytes into the buffer.
  const std::size_t bytes = sizeof(T) * static_cast<std::size_t>(count);
  std::vector<unsigned char> send_raw(bytes + 16), recv_raw(bytes + 16, 0xA5);
  unsigned char* send = send_raw.data() + misalign;
  unsigned char* recv = recv_raw.data() + misalign;
  for (int i = 0; i < count; ++i) {
    const T v = value<T>(c.rank, static_cast<std::size_t>(i), static_cast<int>(name.size()));
    std::memcpy((in_place ? recv : send) + sizeof(T) * static_cast<std::size_t>(i), &v, sizeof(T));
  }
  const int rc = MPI_Allreduce(in_place ? MPI_IN_PLACE : send, recv, count, type, op, c.comm);
  record(c.name, name, recv_raw.data(), recv_raw.size(), rc);
}

void user_sum(void* in, void* inout, int* len, MPI_Datatype*) {
  auto* a = static_cast<int*>(in);
  auto* b = static_cast<int*>(inout);
  for (int i = 0; i < *len; ++i) b[i] += a[i];
}

void allreduce_cases(const Comm& c) {
  // Sizes from below to far above the shared segment (2 MiB per rank), across every route a profile has.
  for (int count : {0, 1, 7, 1023, 1024, 4099, 65536, 300001, 1200000}) {
    const std::string n = std::to_string(count);
    allreduce_case<float>(c, "allreduce_float_sum_" + n, MPI_FLOAT, MPI_SUM, count, false);
    allreduce_case<float>(c, "allreduce_float_sum_inplace_" + n, MPI_FLOAT, MPI_SUM, count, true);
    if (count > 100000) continue;
    allreduce_case<double>(c, "allreduce_double_max_" + n, MPI_DOUBLE, MPI_MAX, count, false);
    allreduce_case<int>(c, "allreduce_int_min_" + n, MPI_INT, MPI_MIN, count, false);
    allreduce_case<std::int32_t>(c, "allreduce_int32_sum_inplace_" + n, MPI_INT32_T, MPI_SUM, count, true);
    allreduce_case<float>(c, "allreduce_float_max_misaligned_" + n, MPI_FLOAT, MPI_MAX, count, false, 1);
    allreduce_case<double>(c, "allreduce_double_sum_misaligned_inplace_" + n, MPI_DOUBLE, MPI_SUM, count, true, 3);
  }
  // A user operation and a derived type: left to the library, whatever the profile says (Open MPI
  // refuses MPI_SUM on a derived type: the error code is the case's result then).
  MPI_Op op = MPI_OP_NULL;
  MPI_Op_create(user_sum, 1, &op);
  allreduce_case<int>(c, "allreduce_user_op_4096", MPI_INT, op, 4096, false);
  MPI_Op_free(&op);
  MPI_Datatype four = MPI_DATATYPE_NULL;
  MPI_Type_contiguous(4, MPI_FLOAT, &four);
  MPI_Type_commit(&four);
  allreduce_case<float>(c, "allreduce_contiguous4_sum_1024", four, MPI_SUM, 1024, false);
  MPI_Type_free(&four);
  // MPI_INT on even ranks, MPI_INT32_T on odd ones: the same type, named two ways.
  allreduce_case<int>(c, "allreduce_int_named_two_ways_5000", c.rank % 2 ? MPI_INT32_T : MPI_INT, MPI_SUM, 5000,
                      false);
}

// One rank's description of an alltoall buffer.
struct Layout {
  MPI_Datatype type = MPI_INT;
  bool owned = false;
};

Layout plain() { return {MPI_INT, false}; }

Layout committed(MPI_Datatype type) {
  MPI_Type_commit(&type);
  return {type, true};
}

// Every element at its own 8-byte slot, the second int of which is a gap.
Layout resized_gap() {
  MPI_Datatype type = MPI_DATATYPE_NULL;
  MPI_Type_create_resized(MPI_INT, 0, 8, &type);
  return committed(type);
}

// Three ints at stride 2: extent 5 ints, 3 of payload.
Layout vector3() {
  MPI_Datatype type = MPI_DATATYPE_NULL;
  MPI_Type_vector(3, 1, 2, MPI_INT, &type);
  return committed(type);
}

// Ints 0, 3 and 4 of every 5 (extent 5 ints after resizing), 3 of payload.
Layout indexed3() {
  const int lengths[2] = {1, 2};
  const int displacements[2] = {0, 3};
  MPI_Datatype inner = MPI_DATATYPE_NULL, type = MPI_DATATYPE_NULL;
  MPI_Type_indexed(2, lengths, displacements, MPI_INT, &inner);
  MPI_Type_create_resized(inner, 0, 5 * static_cast<MPI_Aint>(sizeof(int)), &type);
  MPI_Type_free(&inner);
  return committed(type);
}

// One int 4 bytes into each 8-byte element: lower bound 0, true lower bound 4.
Layout offset_int() {
  const int length = 1;
  const MPI_Aint displacement = 4;
  MPI_Datatype inner = MPI_DATATYPE_NULL, type = MPI_DATATYPE_NULL;
  MPI_Type_create_hindexed(1, &length, &displacement, MPI_INT, &inner);
  MPI_Type_create_resized(inner, 0, 8, &type);
  MPI_Type_free(&inner);
  return committed(type);
}

// Two ints as one element, without gaps.
Layout pair() {
  MPI_Datatype type = MPI_DATATYPE_NULL;
  MPI_Type_contiguous(2, MPI_INT, &type);
  return committed(type);
}

// Two ints, the one at byte 4 first: sizes and extents of a gap-free type, but packed in another order
// than memory holds it.
Layout swapped_pair() {
  const int lengths[2] = {1, 1};
  const MPI_Aint displacements[2] = {4, 0};
  const MPI_Datatype types[2] = {MPI_INT, MPI_INT};
  MPI_Datatype type = MPI_DATATYPE_NULL;
  MPI_Type_create_struct(2, lengths, displacements, types, &type);
  return committed(type);
}

// Ints 0, 0 and 2 of every 3: int 0 is sent twice (overlap is legal in a send type), int 1 never.
Layout overlapping_triple() {
  const int displacements[3] = {0, 0, 2};
  MPI_Datatype type = MPI_DATATYPE_NULL;
  MPI_Type_create_indexed_block(3, 1, displacements, MPI_INT, &type);
  return committed(type);
}

void release(Layout& layout) {
  if (layout.owned) MPI_Type_free(&layout.type);
}

// The buffer for `count` elements per peer of `layout`, payload int k of it set by fill(k); gaps 0xA5.
std::vector<unsigned char> buffer(const Comm& c, const Layout& layout, int count, bool fill, int salt) {
  MPI_Aint lb = 0, extent = 0;
  MPI_Type_get_extent(layout.type, &lb, &extent);
  const std::size_t elements = static_cast<std::size_t>(count) * static_cast<std::size_t>(c.size);
  std::vector<unsigned char> raw(elements * static_cast<std::size_t>(extent) + 64, 0xA5);
  if (!fill || elements == 0) return raw;
  // The payload goes in in signature order through MPI_Unpack, so that every layout carries it alike.
  int element_bytes = 0;
  MPI_Type_size(layout.type, &element_bytes);
  std::vector<unsigned char> payload(elements * static_cast<std::size_t>(element_bytes));
  for (std::size_t k = 0; k < payload.size(); ++k) {
    payload[k] = static_cast<unsigned char>((static_cast<std::size_t>(c.rank) * 31 + k * 7 + static_cast<std::size_t>(salt)) & 0xff);
  }
  int position = 0;
  MPI_Unpack(payload.data(), static_cast<int>(payload.size()), &position, raw.data(), static_cast<int>(elements),
             layout.type, MPI_COMM_SELF);
  return raw;
}

void alltoall_case(const Comm& c, const std::string& name, const Layout& send_layout, int send_count,
                   const Layout& recv_layout, int recv_count, bool in_place) {
  if (skipped(name)) return;
  std::vector<unsigned char> send = buffer(c, send_layout, send_count, true, 11);
  std::vector<unsigned char> recv = buffer(c, recv_layout, recv_count, in_place, 23);
  const int rc = in_place ? MPI_Alltoall(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, recv.data(), recv_count, recv_layout.type,
                                         c.comm)
                          : MPI_Alltoall(send.data(), send_count, send_layout.type, recv.data(), recv_count,
                                         recv_layout.type, c.comm);
  record(c.name, name, recv.data(), recv.size(), rc);
}

void alltoall_cases(const Comm& c) {
  Layout ints = plain();
  Layout gap = resized_gap(), vec = vector3(), idx = indexed3(), off = offset_int(), two = pair();
  Layout swapped = swapped_pair(), overlap = overlapping_triple();
  Layout bytes{MPI_BYTE, false};
  for (int count : {0, 1, 2, 3, 256, 20000, 300000}) {
    const std::string n = std::to_string(count);
    alltoall_case(c, "alltoall_int_" + n, ints, count, ints, count, false);
    alltoall_case(c, "alltoall_int_inplace_" + n, ints, count, ints, count, true);
    if (count > 20000) continue;
    // Item 1 of issue 15: a resized type has gaps between its elements.
    alltoall_case(c, "alltoall_resized_" + n, gap, count, gap, count, false);
    alltoall_case(c, "alltoall_resized_inplace_" + n, gap, count, gap, count, true);
    alltoall_case(c, "alltoall_vector_" + n, vec, count, vec, count, false);
    alltoall_case(c, "alltoall_indexed_to_vector_" + n, idx, count, vec, count, false);
    alltoall_case(c, "alltoall_offset_" + n, off, count, off, count, false);
    alltoall_case(c, "alltoall_int_to_resized_" + n, ints, count, gap, count, false);
    alltoall_case(c, "alltoall_pairs_to_ints_" + n, two, count, ints, 2 * count, false);
    // Gap-free by size and extent, but not in memory order: packed, never passed as raw memory.
    alltoall_case(c, "alltoall_swapped_to_ints_" + n, swapped, count, ints, 2 * count, false);
    alltoall_case(c, "alltoall_ints_to_swapped_" + n, ints, 2 * count, swapped, count, false);
    alltoall_case(c, "alltoall_overlapping_send_" + n, overlap, count, ints, 3 * count, false);
    const Layout& swapped_or_ints = c.rank == 0 ? swapped : ints;
    const int per = c.rank == 0 ? 1 : 2;
    alltoall_case(c, "alltoall_mixed_swapped_" + n, swapped_or_ints, count * per, swapped_or_ints, count * per, false);
    // Item 2: layouts differ between ranks, signatures match. Rank 0 describes its buffers with gaps.
    const Layout& mine = c.rank == 0 ? gap : ints;
    alltoall_case(c, "alltoall_mixed_ranks_" + n, mine, count, mine, count, false);
    alltoall_case(c, "alltoall_mixed_ranks_inplace_" + n, mine, count, mine, count, true);
    const Layout& vec_or_ints = c.rank % 2 ? vec : ints;
    const int scale = c.rank % 2 ? 1 : 3;
    alltoall_case(c, "alltoall_mixed_vector_" + n, vec_or_ints, count * scale, vec_or_ints, count * scale, false);
    // Bytes: whole 4-byte words go to the shim's algorithms, other lengths to the library.
    alltoall_case(c, "alltoall_bytes_" + n, bytes, 4 * count, bytes, 4 * count, false);
    alltoall_case(c, "alltoall_bytes_odd_" + n, bytes, 4 * count + 3, bytes, 4 * count + 3, false);
  }
  for (Layout* layout : {&gap, &vec, &idx, &off, &two, &swapped, &overlap}) release(*layout);
}

void exercise(const Comm& c) {
  allreduce_cases(c);
  alltoall_cases(c);
}

Comm describe(MPI_Comm comm, const std::string& name) {
  Comm c{comm, name};
  MPI_Comm_rank(comm, &c.rank);
  MPI_Comm_size(comm, &c.size);
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  if (argc != 2) {
    std::fprintf(stderr, "usage: shim_cases OUT_PREFIX\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  only = std::getenv("SHIM_CASES_ONLY");
  const std::string path = std::string(argv[1]) + "." + std::to_string(rank);
  out = std::fopen(path.c_str(), "w");
  if (out == nullptr) {
    std::perror(path.c_str());
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  // Errors come back as codes (recorded), not aborts, so that the library's own refusals show too.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
  exercise(describe(MPI_COMM_WORLD, "world"));
  exercise(describe(MPI_COMM_SELF, "self"));
  MPI_Comm copy = MPI_COMM_NULL;
  MPI_Comm_dup(MPI_COMM_WORLD, &copy);
  exercise(describe(copy, "dup"));
  MPI_Comm_free(&copy);
  MPI_Comm half = MPI_COMM_NULL;
  MPI_Comm_split(MPI_COMM_WORLD, rank % 2, -rank, &half);  // reversed rank order within each half
  exercise(describe(half, "half" + std::to_string(rank % 2)));
  MPI_Comm_free(&half);
  exercise(describe(MPI_COMM_WORLD, "world_again"));
  std::fclose(out);
  if (rank == 0) std::printf("shim_cases: %d cases\n", cases);
  MPI_Finalize();
  return 0;
}
