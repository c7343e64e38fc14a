#pragma once
// The order in which a device backend issues, waits for and times a batch of calls under nccl-tests'
// launch options (collectives/launch.hpp), apart from CUDA so that the order and the arithmetic can be
// tested with fakes (tests/gpu/host_side_test.cpp). QueuedCollective::time_on_device runs it with
// the real steps.
#include <functional>
#include <vector>

#include "collectives/launch.hpp"

namespace cctune::gpu {

struct TimedLoopSteps {
  std::function<void()> queue;                   // one timed iteration: LaunchSettings::aggregated calls
  std::function<void(int index)> mark;           // an event on the stream
  std::function<void(int first, int last)> wait;  // for marks first..last in turn, then the stream (throws: overdue)
  std::function<void()> meet;                    // every rank, with nothing in flight
  std::function<void()> begin_capture;
  std::function<void()> end_capture;             // and instantiate the graph
  std::function<void()> launch_graph;
  std::function<double()> now;                   // host seconds, monotonic
  std::function<double(int from, int to)> elapsed_us;  // between two marks, once they have been waited for
};

// Microseconds per call: one sample per timed iteration, or per graph launch with -G (each the
// launch's time shared among the `iterations` x aggregated calls it replays).
// - Blocking::none: the iterations are queued back to back between marks and waited for once; a
//   sample is the device's time between its two marks, or with host_time (-C) the host's time to
//   queue it.
// - Otherwise each iteration is waited for before the next is queued, and timed on the host from
//   before it was queued: to after the meeting (wait_and_meet), or to its end (wait,
//   wait_then_meet_untimed, which meets after the time was taken).
// - graph_launches > 0 (never with blocking): the iterations are captured once, then the graph is
//   launched that many times between marks.
std::vector<double> run_timed_loop(const LaunchSettings& launch, int iterations, const TimedLoopSteps& steps);

// How many marks run_timed_loop makes (indices 0 .. marks - 1), for the events behind them.
int timed_loop_marks(const LaunchSettings& launch, int iterations);

}  // namespace cctune::gpu
