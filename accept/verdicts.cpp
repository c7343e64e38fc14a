#include "accept/verdicts.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <pugixml.hpp>

#include <algorithm>
#include <sstream>

namespace cctune::accept {

std::string_view to_string(Status status) {
  switch (status) {
    case Status::pass: return "pass";
    case Status::fail: return "FAIL";
    case Status::skip: return "skip";
    case Status::warn: return "WARN";
  }
  return "?";
}

std::string drain_list(const std::vector<Verdict>& verdicts) {
  struct Node {
    std::string host, faults, reason;
  };
  std::vector<Node> nodes;
  for (const Verdict& v : verdicts) {
    if (v.status != Status::fail || v.subject == "allocation" || v.subject.empty()) continue;
    // Isolation names a rank as "rank 3 (host)": its node is the one to drain.
    std::string host = v.subject;
    if (const auto open = host.find(" ("); host.rfind("rank ", 0) == 0 && open != std::string::npos && host.back() == ')') {
      host = host.substr(open + 2, host.size() - open - 3);
    }
    // A tab or line break in a name would break the line format; hosts never carry them.
    if (host.find_first_of("\t\n\r ") != std::string::npos) continue;
    auto node = std::find_if(nodes.begin(), nodes.end(), [&](const Node& n) { return n.host == host; });
    if (node == nodes.end()) node = nodes.insert(nodes.end(), Node{host, "", ""});
    const std::string fault = v.fault.empty() ? "FAILED" : v.fault;
    if (("," + node->faults + ",").find("," + fault + ",") == std::string::npos) {
      node->faults += (node->faults.empty() ? "" : ",") + fault;
    }
    if (node->reason.empty()) {
      node->reason = v.check + (v.measured.empty() ? "" : ": " + v.measured) +
                     (v.expected.empty() ? "" : " (expected " + v.expected + ")");
    }
  }
  std::string text;
  for (const Node& node : nodes) {
    std::string reason = "cctune accept " + node.faults + ": " + node.reason;
    for (char& c : reason) {
      if (c == '\t' || c == '\n' || c == '\r' || c == '"') c = ' ';
    }
    text += node.host + "\t" + node.faults + "\t" + reason + "\n";
  }
  return text;
}

VerdictLog::VerdictLog(std::string json_path, std::string junit_path, Writer write)
    : json_path_(std::move(json_path)), junit_path_(std::move(junit_path)), write_(std::move(write)) {}

void VerdictLog::start() {
  std::lock_guard lock(mutex_);
  flush();
}

std::vector<Verdict> VerdictLog::verdicts() const {
  std::lock_guard lock(mutex_);
  return verdicts_;
}

void VerdictLog::finish() {
  std::lock_guard lock(mutex_);
  finished_ = true;
  flush();
}

void VerdictLog::add(Verdict verdict) {
  std::lock_guard lock(mutex_);
  in_progress_.reset();
  verdicts_.push_back(std::move(verdict));
  flush();
}

void VerdictLog::add_all(std::vector<Verdict> verdicts) {
  std::lock_guard lock(mutex_);
  in_progress_.reset();
  for (Verdict& v : verdicts) verdicts_.push_back(std::move(v));
  flush();
}

void VerdictLog::add_isolation_cost(IsolationCost cost) {
  std::lock_guard lock(mutex_);
  isolation_.push_back(std::move(cost));
  flush();
}

void VerdictLog::begin(const std::string& subject, const std::string& check) {
  std::lock_guard lock(mutex_);
  in_progress_ = Verdict{subject, check, Status::fail, "INTERRUPTED", "", "",
                         "the job ended during this check (a rank died or the job was killed)"};
  flush();
}

bool VerdictLog::fail_in_progress(const std::string& fault, const std::string& detail, std::vector<Verdict> named,
                                  std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_, std::defer_lock);
  if (!lock.try_lock_for(wait)) return false;
  // Between checks (the collectives that agree on what comes next) nothing is in progress.
  const Verdict where = in_progress_.value_or(Verdict{"allocation", "between checks", Status::fail, "", "", "", ""});
  in_progress_.reset();
  verdicts_.push_back({where.subject, where.check, Status::fail, fault, "", "", detail});
  for (Verdict& v : named) {
    v.check = where.check;
    v.status = Status::fail;
    v.fault = fault;
    verdicts_.push_back(std::move(v));
  }
  flush();
  return true;
}

bool VerdictLog::all_pass() const {
  std::lock_guard lock(mutex_);
  return finished_ && !in_progress_ &&
         std::none_of(verdicts_.begin(), verdicts_.end(), [](const Verdict& v) { return v.status == Status::fail; });
}

std::string VerdictLog::json() const {
  std::lock_guard lock(mutex_);
  nlohmann::ordered_json out;
  out["format"] = "cctune-acceptance";
  out["version"] = 1;
  out["passed"] = all_pass();
  out["complete"] = finished_;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const Verdict& v : on_disk()) {
    list.push_back({{"subject", v.subject}, {"check", v.check}, {"status", std::string(to_string(v.status))},
                    {"fault", v.fault}, {"measured", v.measured}, {"expected", v.expected}, {"detail", v.detail},
                    {"repeats", v.repeats}, {"spread", v.spread}});
  }
  out["verdicts"] = list;
  if (!isolation_.empty()) {
    nlohmann::ordered_json costs = nlohmann::ordered_json::array();
    for (const IsolationCost& c : isolation_) {
      costs.push_back({{"check", c.check}, {"rounds", c.rounds}, {"planned_rounds", c.planned},
                       {"measurements", c.measurements}, {"seconds", c.seconds}});
    }
    out["isolation"] = costs;
  }
  return out.dump(1) + "\n";
}

std::string VerdictLog::junit() const {
  std::lock_guard lock(mutex_);
  pugi::xml_document doc;
  auto declaration = doc.append_child(pugi::node_declaration);
  declaration.append_attribute("version") = "1.0";
  declaration.append_attribute("encoding") = "UTF-8";
  auto suite = doc.append_child("testsuites").append_child("testsuite");
  const std::vector<Verdict> all = on_disk();
  suite.append_attribute("name") = "cctune accept";
  suite.append_attribute("tests") = static_cast<unsigned long long>(all.size());
  suite.append_attribute("failures") = static_cast<long long>(
      std::count_if(all.begin(), all.end(), [](const Verdict& v) { return v.status == Status::fail; }));
  suite.append_attribute("skipped") = static_cast<long long>(
      std::count_if(all.begin(), all.end(), [](const Verdict& v) { return v.status == Status::skip; }));
  for (const Verdict& v : all) {
    auto test = suite.append_child("testcase");
    test.append_attribute("classname") = v.subject.c_str();
    test.append_attribute("name") = v.check.c_str();
    const std::string line = fmt::format("measured {} expected {}{}{}", v.measured.empty() ? "-" : v.measured,
                                         v.expected.empty() ? "-" : v.expected, v.detail.empty() ? "" : ": ", v.detail);
    if (v.status == Status::fail) {
      auto failure = test.append_child("failure");
      failure.append_attribute("type") = v.fault.c_str();
      failure.append_attribute("message") = (v.fault + ": " + line).c_str();
    } else if (v.status == Status::skip) {
      test.append_child("skipped").append_attribute("message") = (v.fault + ": " + line).c_str();
    } else if (v.status == Status::warn) {
      // JUnit has no warning: a passing testcase that says so, in a property and its output.
      auto property = test.append_child("properties").append_child("property");
      property.append_attribute("name") = "status";
      property.append_attribute("value") = "WARN";
      test.append_child("system-out").text() = ("WARN " + v.fault + ": " + line).c_str();
    } else {
      test.append_child("system-out").text() = line.c_str();
    }
  }
  std::ostringstream out;
  doc.save(out, "  ");
  return out.str();
}

std::vector<Verdict> VerdictLog::on_disk() const {
  std::vector<Verdict> all = verdicts_;
  if (in_progress_) all.push_back(*in_progress_);
  const bool failed = std::any_of(all.begin(), all.end(), [](const Verdict& v) { return v.status == Status::fail; });
  if (!finished_ && !failed) {
    all.push_back({"allocation", "acceptance run", Status::fail, "INCOMPLETE", "", "",
                   "the run ended before every check of the spec had its verdict"});
  }
  return all;
}

void VerdictLog::flush() const {
  if (!json_path_.empty()) write_(json_path_, json());
  if (!junit_path_.empty()) write_(junit_path_, junit());
}

}  // namespace cctune::accept
