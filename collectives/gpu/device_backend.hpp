#pragma once
// What the cuda and nccl backends share above the CUDA runtime: collectives queued on a stream and
// timed there, and the data pattern generated and checked on the device.
#include <cuda_runtime_api.h>

#include <string>

#include "collectives/backend.hpp"
#include "collectives/gpu/runtime.hpp"

namespace cctune::gpu {

class QueuedCollective : public BoundCollective {
 public:
  void run(const CollectiveArgs& args) final {
    prepare(args);
    queue(args);
    wait();
  }
  // The batch as the backend's LaunchSettings say (gpu/timed_loop.hpp: -z, -m, -C, -G).
  std::optional<std::vector<double>> time_on_device(const CollectiveArgs& args, int iterations) final;

 protected:
  virtual cudaStream_t stream() const = 0;
  virtual const LaunchSettings& launch() const = 0;
  // Before calls on these buffers are queued, outside any graph capture (NCCL registers them there).
  virtual void prepare(const CollectiveArgs& /*args*/) {}
  // Queues one call on stream() without waiting for it.
  virtual void queue(const CollectiveArgs& args) = 0;
  // One timed iteration of `calls` calls (-m); NCCL issues them as one group.
  virtual void queue_iteration(const CollectiveArgs& args, int calls) {
    for (int c = 0; c < calls; ++c) queue(args);
  }
  // Waits for what was queued (through wait_for_calls); throws, naming the call, when it does not
  // finish in time.
  virtual void wait() = 0;
  // Every rank meets, with nothing of this collective in flight (-z 1 and 3).
  virtual void meet() = 0;

  // Waits for every call queued so far, each within `timeout_seconds` of the one before it having
  // finished (0: no limit): -T bounds each call of a timed batch, not the batch, for every device
  // backend alike. false when a call did not finish in time, or still_healthy said no.
  bool wait_for_calls(double timeout_seconds, bool (*still_healthy)(void*) = nullptr, void* context = nullptr);
  // The call wait_for_calls last gave up on, for messages: " (call 3 of 20 queued)", or empty.
  std::string overdue_call() const;

 private:
  CallTimer timer_;
  // Calls of the batch being waited for, first_call_ to timed_calls_, call i ending at timer_.event(i).
  int first_call_ = 1;
  int timed_calls_ = 0;
  int overdue_ = -1;
};

class DeviceBackend : public Backend {
 public:
  bool fill_input(Buffer& buffer, const PatternRequest& input) final;
  std::optional<std::uint64_t> count_wrong(Buffer& buffer, const PatternRequest& expected) final;
};

}  // namespace cctune::gpu
