#pragma once
// A guard for tests whose failure mode is a hang (a read blocked on a FIFO, a walk that never ends).
// An assert on std::async's wait_for does not help: the future's destructor joins the blocked thread,
// so the test binary hangs instead of failing. This runs the work on its own thread and, if it has not
// returned in time, ends the whole binary at once with a message and exit status 1 (a blocked thread
// can be neither joined nor stopped).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

namespace no_hang {

// Returns what `work` returns (or rethrows what it throws) when it returns within `seconds`.
template <typename Work>
auto within(int seconds, Work&& work, const std::string& what = "the work under test") {
  using Result = std::invoke_result_t<Work&>;
  std::packaged_task<Result()> task(std::forward<Work>(work));
  std::future<Result> result = task.get_future();  // a packaged_task's future never joins on destruction
  std::thread thread(std::move(task));
  if (result.wait_for(std::chrono::seconds(seconds)) != std::future_status::ready) {
    std::fprintf(stderr, "FAILED: %s did not return within %d s (blocked or too slow); ending the test binary\n",
                 what.c_str(), seconds);
    std::fflush(stderr);
    std::_Exit(1);
  }
  thread.join();
  return result.get();
}

}  // namespace no_hang
