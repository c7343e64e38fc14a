#pragma once
// The program's edge: exceptions become one line on stderr and an exit code.
#include <string_view>

namespace cctune::cli {

enum ExitCode : int { kOk = 0, kFailed = 1, kUsage = 2 };

// True on the process that should speak for the job: rank 0, or a process started without a launcher.
bool speaks_for_job();
// "cctune: error: MESSAGE" on stderr, from the speaking rank only.
void report_usage_error(std::string_view message);

}  // namespace cctune::cli
