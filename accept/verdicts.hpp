#pragma once
// Verdicts per node and per check, kept on disk as they are reached: a rank that dies later cannot
// take the verdicts already reached with it.
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace cctune::accept {

// warn: within the measured spread of the floor after every retest, or FLEET_OUTLIER; it does not
// fail acceptance and is never drained.
enum class Status { pass, fail, skip, warn };
std::string_view to_string(Status status);

struct Verdict {
  std::string subject;   // a host, or "allocation"
  std::string check;     // "gpu count", "allreduce 1 MiB busbw >= 5 GB/s"
  Status status = Status::pass;
  std::string fault;     // stable code for fail (GPU_COUNT, BUSBW_LOW, ...), reason code for skip
  std::string measured, expected;
  std::string detail;    // one line for people
  int repeats = 0;       // measurements taken (retests included); 0 for a check that measures nothing
  double spread = 0;     // of the measured value, in its unit (half the interquartile range)
};

// What isolating the slow node or rank took for one check: the rounds done (of those planned), the
// measurements (each one every group of a round at once, whatever the node count) and the seconds.
struct IsolationCost {
  std::string check;
  int rounds = 0, planned = 0, measurements = 0;
  double seconds = 0;
};

// The nodes to take out of service: one line per node that failed a check of its own (a node check,
// a per-node floor) or was named by isolation (SLOW_NODE, or SLOW_RANK on it), "HOST<TAB>FAULTS<TAB>
// REASON", faults comma-separated in the order found, the reason one line for `scontrol update
// NodeName=HOST State=DRAIN Reason=...` (slurm/accept.sbatch with DRAIN=1). Nothing for a failure of the
// whole allocation that names no node: draining every node would only hide it. Empty: none.
std::string drain_list(const std::vector<Verdict>& verdicts);

class VerdictLog {
 public:
  // Writes a whole file so that a reader never sees half of it (the CLI's write-then-rename); throws
  // UsageError naming the file when it cannot.
  using Writer = std::function<void(const std::string& path, const std::string& text)>;

  // Empty paths write nothing, and nothing is written before start(): a check that refuses the run
  // later must leave the files of an earlier run as they were. Each start(), add(), begin() and
  // finish() rewrites both files whole.
  VerdictLog(std::string json_path, std::string junit_path, Writer write);
  // The run has passed every check that can refuse it: from here the files say "not passed" until
  // finish(), so an earlier run's passing verdicts never outlive a run that then failed to start.
  void start();
  void add(Verdict verdict);
  // Several at once, one rewrite of the files (a node check per node on a thousand nodes).
  void add_all(std::vector<Verdict> verdicts);
  // Written ahead of a check: until its verdict replaces it, the files carry it as failed with
  // INTERRUPTED, so a job killed mid-check (a rank that died takes the job with it) leaves a failure
  // in the files rather than a silently missing check.
  void begin(const std::string& subject, const std::string& check);
  // The check in progress when the run ended badly fails with `fault`, and so does each of `named`
  // (a host with its own detail) on that check: written at once, before anything else can fail.
  // Called from the watchdog's thread while the main thread may be inside another method: it waits
  // at most `wait` for it, and returns false (nothing written) when the log stayed busy that long.
  bool fail_in_progress(const std::string& fault, const std::string& detail, std::vector<Verdict> named,
                        std::chrono::milliseconds wait = std::chrono::seconds(5));
  // Kept in the JSON file beside the verdicts (its "isolation" list).
  void add_isolation_cost(IsolationCost cost);
  // Every check of the spec has its verdict: only now can the files say passed.
  void finish();
  std::vector<Verdict> verdicts() const;
  // Finished, nothing in progress, no failure (skips and warnings do not fail).
  bool all_pass() const;

  std::string json() const;
  std::string junit() const;

 private:
  void flush() const;
  // The verdicts, then the check in progress; before finish(), a file that no failure marks yet
  // carries one INCOMPLETE failure, so that no reader (JUnit counts failures) takes it for a pass.
  std::vector<Verdict> on_disk() const;
  std::string json_path_, junit_path_;
  Writer write_;
  // Every method takes it: the watchdog's thread writes the hang while the main thread may be adding.
  mutable std::recursive_timed_mutex mutex_;
  std::vector<Verdict> verdicts_;
  std::vector<IsolationCost> isolation_;
  std::optional<Verdict> in_progress_;
  bool finished_ = false;
};

}  // namespace cctune::accept
