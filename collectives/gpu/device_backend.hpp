#pragma once
// What the cuda and nccl backends share above the CUDA runtime: collectives queued on a stream and
// timed there, and the data pattern generated and checked on the device.
#include <cuda_runtime_api.h>

#include "collectives/backend.hpp"
#include "collectives/gpu/runtime.hpp"

namespace cctune::gpu {

class QueuedCollective : public BoundCollective {
 public:
  void run(const CollectiveArgs& args) final {
    queue(args);
    wait();
  }
  std::optional<std::vector<double>> time_on_device(const CollectiveArgs& args, int iterations) final {
    timer_.reserve(iterations);
    timer_.mark(0, stream());
    for (int i = 0; i < iterations; ++i) {
      queue(args);
      timer_.mark(i + 1, stream());
    }
    wait();
    return timer_.microseconds(iterations);
  }

 protected:
  virtual cudaStream_t stream() const = 0;
  // Queues one call on stream() without waiting for it.
  virtual void queue(const CollectiveArgs& args) = 0;
  // Waits for the stream; throws, naming the call, when it does not finish in time.
  virtual void wait() = 0;

 private:
  CallTimer timer_;
};

class DeviceBackend : public Backend {
 public:
  bool fill_input(Buffer& buffer, const PatternRequest& input) final;
  std::optional<std::uint64_t> count_wrong(Buffer& buffer, const PatternRequest& expected) final;
};

}  // namespace cctune::gpu
