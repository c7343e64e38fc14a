#pragma once
// Device-side pieces every kernel of collectives/cuda uses: 16-byte packs unpacked to float32, the
// reduction, the cross-GPU barrier, and the rule that maps work to threads.
//
// The mapping rule: element (or 16-byte vector) i of any range is handled by thread i mod stride of a
// rank's blocks, on every rank alike. So block b of one rank only ever reads what block b of the others
// wrote, and a barrier between block b of every rank (not the whole grid) is enough between phases.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "collectives/cuda/launch.hpp"

namespace cctune::cuda::device {

template <typename T>
struct Element;

template <>
struct Element<float> {
  static constexpr int kPerVector = 4;
  __device__ static void unpack(const uint4& v, float (&out)[4]) {
    out[0] = __uint_as_float(v.x);
    out[1] = __uint_as_float(v.y);
    out[2] = __uint_as_float(v.z);
    out[3] = __uint_as_float(v.w);
  }
  __device__ static uint4 pack(const float (&in)[4]) {
    return make_uint4(__float_as_uint(in[0]), __float_as_uint(in[1]), __float_as_uint(in[2]), __float_as_uint(in[3]));
  }
  __device__ static float to_float(float x) { return x; }
  __device__ static float from_float(float x) { return x; }
};

// Half types: two per 32-bit word, widened exactly and rounded once (to nearest even) at the end.
template <typename T, typename T2, float2 (*Widen)(T2), T2 (*Narrow)(float, float)>
struct HalfElement {
  static constexpr int kPerVector = 8;
  __device__ static void unpack(const uint4& v, float (&out)[8]) {
    const T2* pairs = reinterpret_cast<const T2*>(&v);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float2 f = Widen(pairs[k]);
      out[2 * k] = f.x;
      out[2 * k + 1] = f.y;
    }
  }
  __device__ static uint4 pack(const float (&in)[8]) {
    uint4 v;
    T2* pairs = reinterpret_cast<T2*>(&v);
#pragma unroll
    for (int k = 0; k < 4; ++k) pairs[k] = Narrow(in[2 * k], in[2 * k + 1]);
    return v;
  }
};

__device__ inline float2 widen_half2(__half2 v) { return __half22float2(v); }
__device__ inline __half2 narrow_half2(float a, float b) { return __floats2half2_rn(a, b); }
__device__ inline float2 widen_bfloat162(__nv_bfloat162 v) { return __bfloat1622float2(v); }
__device__ inline __nv_bfloat162 narrow_bfloat162(float a, float b) { return __floats2bfloat162_rn(a, b); }

template <>
struct Element<__half> : HalfElement<__half, __half2, widen_half2, narrow_half2> {
  __device__ static float to_float(__half x) { return __half2float(x); }
  __device__ static __half from_float(float x) { return __float2half_rn(x); }
};

template <>
struct Element<__nv_bfloat16> : HalfElement<__nv_bfloat16, __nv_bfloat162, widen_bfloat162, narrow_bfloat162> {
  __device__ static float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
  __device__ static __nv_bfloat16 from_float(float x) { return __float2bfloat16_rn(x); }
};

__device__ inline float combine(ReduceOp op, float acc, float value) {
  switch (op) {
    case ReduceOp::max: return fmaxf(acc, value);
    case ReduceOp::min: return fminf(acc, value);
    default: return acc + value;  // sum, and avg before its one division
  }
}

__device__ inline float finish(ReduceOp op, float acc, int nranks) {
  return op == ReduceOp::avg ? acc / static_cast<float>(nranks) : acc;
}

__device__ inline std::size_t first_thread() {
  return static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline std::size_t thread_stride() { return static_cast<std::size_t>(gridDim.x) * blockDim.x; }

__device__ inline void store_release(std::uint32_t* flag, std::uint32_t value) {
  asm volatile("st.release.sys.global.u32 [%0], %1;" ::"l"(flag), "r"(value) : "memory");
}

__device__ inline std::uint32_t load_acquire(const std::uint32_t* flag) {
  std::uint32_t value;
  asm volatile("ld.acquire.sys.global.u32 %0, [%1];" : "=r"(value) : "l"(flag) : "memory");
  return value;
}

__device__ inline std::uint32_t load_relaxed(const std::uint32_t* word) {
  std::uint32_t value;
  asm volatile("ld.relaxed.sys.global.u32 %0, [%1];" : "=r"(value) : "l"(word) : "memory");
  return value;
}

__device__ inline void store_relaxed(std::uint32_t* word, std::uint32_t value) {
  asm volatile("st.relaxed.sys.global.u32 [%0], %1;" ::"l"(word), "r"(value) : "memory");
}

// Spins between two looks at the host's stop word: reading host memory costs a trip over PCIe, so it
// is read as rarely as NCCL reads its abort flag (NCCL 2.28.9 src/device/primitives.h,
// NCCL_SPINS_BEFORE_CHECK_ABORT).
inline constexpr unsigned kSpinsBeforeStopCheck = 10000;

// Block blockIdx.x of every rank meets here. What each block wrote before (to its own memory or a
// peer's) is visible to the same block of every rank after. Flags only grow (epoch after epoch), so a
// peer already one barrier further on counts as arrived.
//
// false: the call was stopped (StopWords); the kernel must return at once, its output unfinished.
// The whole block agrees (__syncthreads_or), and blocks never wait for other blocks of their own
// rank, so returning early leaves no block waiting. One thread that does not spin reads the sticky
// word meanwhile, so that the calls queued behind a stopped one leave without spinning, at no cost
// to a barrier's latency.
[[nodiscard]] __device__ inline bool barrier(const RankView& view, int nranks, std::uint32_t epoch,
                                             const StopWords& stop) {
  __shared__ volatile int stopping;
  if (threadIdx.x == 0) stopping = 0;
  __syncthreads();
  if (threadIdx.x < static_cast<unsigned>(nranks)) {
    const int slot = static_cast<int>(blockIdx.x) * kMaxRanks;
    store_release(view.flags[threadIdx.x] + slot + view.rank, epoch);
    const std::uint32_t* arrived = view.flags[view.rank] + slot + threadIdx.x;
    unsigned spins = 0;
    while (static_cast<std::int32_t>(load_acquire(arrived) - epoch) < 0) {
      if (stopping) break;
      if (stop.requested && ++spins == kSpinsBeforeStopCheck) {
        spins = 0;
        if (load_relaxed(stop.requested) != 0) {
          stopping = 1;
          break;
        }
      }
    }
  } else if (threadIdx.x == blockDim.x - 1 && stop.sticky && load_relaxed(stop.sticky) != 0) {
    stopping = 1;
  }
  if (__syncthreads_or(stopping)) {
    if (threadIdx.x == 0) {
      if (stop.sticky) store_relaxed(stop.sticky, 1);
      if (stop.stopped) store_relaxed(stop.stopped, 1);
    }
    return false;
  }
  return true;
}

// Elements [begin, end) of every rank's `sources`, reduced into `destination` (begin a multiple of
// the vector width). Peer data is read through L2 only (ld.global.cg): it was written by another GPU or
// another block, and a stale L1 line must not answer.
template <typename T>
__device__ void reduce_range(const void* const (&sources)[kMaxRanks], int nranks, ReduceOp op, std::size_t begin,
                             std::size_t end, T* destination) {
  using E = Element<T>;
  constexpr int V = E::kPerVector;
  if (end <= begin) return;
  const std::size_t vectors = (end - begin) / V;
  for (std::size_t v = first_thread(); v < vectors; v += thread_stride()) {
    const std::size_t at = begin + v * V;
    uint4 loaded[kMaxRanks];
#pragma unroll
    for (int r = 0; r < kMaxRanks; ++r) {
      if (r < nranks) loaded[r] = __ldcg(reinterpret_cast<const uint4*>(static_cast<const T*>(sources[r]) + at));
    }
    float acc[V];
    E::unpack(loaded[0], acc);
#pragma unroll
    for (int r = 1; r < kMaxRanks; ++r) {
      if (r < nranks) {
        float value[V];
        E::unpack(loaded[r], value);
#pragma unroll
        for (int k = 0; k < V; ++k) acc[k] = combine(op, acc[k], value[k]);
      }
    }
#pragma unroll
    for (int k = 0; k < V; ++k) acc[k] = finish(op, acc[k], nranks);
    *reinterpret_cast<uint4*>(destination + at) = E::pack(acc);
  }
  for (std::size_t at = begin + vectors * V + first_thread(); at < end; at += thread_stride()) {
    float acc = E::to_float(__ldcg(static_cast<const T*>(sources[0]) + at));
    for (int r = 1; r < nranks; ++r) acc = combine(op, acc, E::to_float(__ldcg(static_cast<const T*>(sources[r]) + at)));
    destination[at] = E::from_float(finish(op, acc, nranks));
  }
}

// Elements [begin, end) of `source` copied to `destination`, with the same mapping as reduce_range.
template <typename T>
__device__ void copy_range(const T* source, T* destination, std::size_t begin, std::size_t end) {
  constexpr int V = Element<T>::kPerVector;
  if (end <= begin) return;
  const std::size_t vectors = (end - begin) / V;
  for (std::size_t v = first_thread(); v < vectors; v += thread_stride()) {
    const std::size_t at = begin + v * V;
    *reinterpret_cast<uint4*>(destination + at) = __ldcg(reinterpret_cast<const uint4*>(source + at));
  }
  for (std::size_t at = begin + vectors * V + first_thread(); at < end; at += thread_stride()) {
    destination[at] = __ldcg(source + at);
  }
}

}  // namespace cctune::cuda::device
