#include "results/record.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <set>

#include "collectives/error.hpp"
#include "results/nccl_tests.hpp"
#include "results/text.hpp"

namespace cctune::results {

using Json = nlohmann::json;

void refuse(const std::string& name, const std::string& reason) {
  CCTUNE_USAGE_ERROR(printable(name) + ": " + reason);
}

std::string shown(const Json& value) {
  if (value.is_array()) return "a list";
  if (value.is_object()) return "an object";
  std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return printable(text);
}

namespace {


// The members of one object of a file, each checked to be the kind of value it must be, and named in
// messages by where it is ("results[3].size"). nlohmann's own conversions would turn -1 into 2^64-1,
// 2.7 into 2 and 1e300 into anything, and its exceptions speak of type_error.302.
class Fields {
 public:
  Fields(const Json& object, const std::string& name, std::string where)
      : object_(object), name_(name), where_(std::move(where)) {}

  bool has(const char* key) const {
    const auto it = object_.find(key);
    return it != object_.end() && !it->is_null();
  }

  // "" when missing or null.
  std::string text(const char* key) const {
    if (!has(key)) return {};
    const Json& value = object_[key];
    if (!value.is_string()) refuse(name_, fmt::format("{}: {} is not a string", path(key), shown(value)));
    return value.get<std::string>();
  }

  std::string required_text(const char* key) const {
    if (!has(key)) refuse(name_, path(key) + ": missing");
    return text(key);
  }

  // A whole number in [low, high] (an integral float such as 1024.0 counts), `fallback` when missing.
  std::int64_t whole(const char* key, std::int64_t low, std::int64_t high, std::int64_t fallback) const {
    if (!has(key)) return fallback;
    const Json& value = object_[key];
    std::optional<std::int64_t> number;
    if (value.is_number_unsigned()) {
      const auto u = value.get<std::uint64_t>();
      if (u <= kMaxRecordInteger) number = static_cast<std::int64_t>(u);
    } else if (value.is_number_integer()) {
      number = value.get<std::int64_t>();
    } else if (value.is_number_float()) {
      const double d = value.get<double>();
      // 2^63 is the first double past int64's range.
      if (std::isfinite(d) && d == std::trunc(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
        number = static_cast<std::int64_t>(d);
      }
    }
    if (!number || *number < low || *number > high) {
      refuse(name_, fmt::format("{}: {} is not a whole number from {} to {}", path(key), shown(value), low, high));
    }
    return *number;
  }

  std::uint64_t unsigned_whole(const char* key, std::uint64_t fallback) const {
    return static_cast<std::uint64_t>(
        whole(key, 0, static_cast<std::int64_t>(kMaxRecordInteger), static_cast<std::int64_t>(fallback)));
  }

  std::uint64_t required_unsigned_whole(const char* key) const {
    if (!has(key)) refuse(name_, path(key) + ": missing");
    return unsigned_whole(key, 0);
  }

  int small_whole(const char* key) const {
    return static_cast<int>(whole(key, 0, std::numeric_limits<int>::max(), 0));
  }

  // Any JSON number (its range is unreadable()'s to judge), `fallback` when missing.
  double number(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    const Json& value = object_[key];
    if (!value.is_number()) refuse(name_, fmt::format("{}: {} is not a number", path(key), shown(value)));
    return value.get<double>();
  }

  bool flag(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    const Json& value = object_[key];
    if (!value.is_boolean()) refuse(name_, fmt::format("{}: {} is not true or false", path(key), shown(value)));
    return value.get<bool>();
  }

  std::vector<double> numbers(const char* key) const {
    std::vector<double> values;
    if (!has(key)) return values;
    const Json& array = object_[key];
    if (!array.is_array()) refuse(name_, fmt::format("{}: {} is not a list of numbers", path(key), shown(array)));
    for (const Json& value : array) {
      if (!value.is_number()) refuse(name_, fmt::format("{}: {} is not a number", path(key), shown(value)));
      values.push_back(value.get<double>());
    }
    return values;
  }

  const Json& object(const char* key) const {
    static const Json empty = Json::object();
    if (!has(key)) return empty;
    const Json& value = object_[key];
    if (!value.is_object()) refuse(name_, fmt::format("{}: {} is not an object", path(key), shown(value)));
    return value;
  }

  const Json& array(const char* key) const {
    if (!has(key)) refuse(name_, path(key) + ": missing");
    const Json& value = object_[key];
    if (!value.is_array()) refuse(name_, fmt::format("{}: {} is not a list", path(key), shown(value)));
    return value;
  }

  std::string path(const char* key) const { return where_.empty() ? key : where_ + "." + key; }

 private:
  const Json& object_;
  const std::string& name_;
  std::string where_;
};

constexpr std::int64_t kMaxWhole = static_cast<std::int64_t>(kMaxRecordInteger);

Measurement measurement_from_placement(const Fields& row, const Fields& placement, bool in_place) {
  Measurement m;
  m.collective = row.text("collective");
  m.backend = row.text("backend");
  m.algorithm = row.text("algorithm");
  m.datatype = row.text("type");
  m.op = row.text("redop");
  m.bytes = row.required_unsigned_whole("size");
  m.count = row.unsigned_whole("count", 0);
  m.in_place = in_place;
  // nccl-tests' own -J has only its mean time per call, "time"; cctune's adds the statistics.
  const double time = placement.number("time", 0.0);
  m.median_us = placement.number("median_us", time);
  m.min_us = placement.number("min_us", 0.0);
  m.p99_us = placement.number("p99_us", 0.0);
  m.mean_us = placement.number("mean_us", time);
  m.algbw_gbs = placement.number("alg_bw", 0.0);
  m.busbw_gbs = placement.number("bus_bw", 0.0);
  m.wrong = placement.whole("nwrong", -1, kMaxWhole, -1);
  m.samples_us = placement.numbers("times_us");
  return m;
}

bool finite_not_negative(double value) { return std::isfinite(value) && value >= 0; }

}  // namespace

std::string unreadable(const Measurement& m) {
  if (!(std::isfinite(m.median_us) && m.median_us > 0)) {
    return fmt::format("median time {} is not a positive number of microseconds", m.median_us);
  }
  for (const auto& [name, value] : {std::pair{"min", m.min_us}, std::pair{"p99", m.p99_us},
                                    std::pair{"mean", m.mean_us}, std::pair{"algbw", m.algbw_gbs},
                                    std::pair{"busbw", m.busbw_gbs}}) {
    if (!finite_not_negative(value)) return fmt::format("{} {} is not a finite number of at least 0", name, value);
  }
  for (double sample : m.samples_us) {
    if (!finite_not_negative(sample)) return fmt::format("sample {} is not a finite time of at least 0", sample);
  }
  if (m.wrong < -1) return fmt::format("#wrong {} is below -1 (not checked)", m.wrong);
  if (m.max_error && !finite_not_negative(*m.max_error)) {
    return fmt::format("error {} is not a finite number of at least 0", *m.max_error);
  }
  if (m.root < -1) return fmt::format("root {} is below -1 (none)", m.root);
  if (m.bytes > kMaxRecordInteger || m.count > kMaxRecordInteger) return "size or count beyond 2^63-1";
  return {};
}

std::string skipped_note(const Record& record) {
  if (record.skipped_rows == 0) return {};
  const std::string name = record.source.empty() ? fmt::format("record {}", record.id) : record.source;
  return fmt::format("{}: {} unreadable row(s) left out", printable(name), record.skipped_rows);
}

std::string json_string(const Json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<Measurement> measurements_from_bench_row(const Json& row, const std::string& name,
                                                     const std::string& where, const std::string& fallback,
                                                     std::size_t& skipped) {
  if (!row.is_object()) refuse(name, fmt::format("{}: {} is not an object", where, shown(row)));
  const Fields fields(row, name, where);
  if (!fields.has("collective") && fallback.empty()) {
    refuse(name, "the rows do not name their collective, nor does \"args\": give --collective");
  }
  std::vector<Measurement> measurements;
  for (const auto& [key, in_place] : {std::pair{"out_of_place", false}, std::pair{"in_place", true}}) {
    if (!row.contains(key) || !row[key].is_object()) continue;
    Measurement m = measurement_from_placement(fields, Fields(row[key], name, fields.path(key)), in_place);
    if (m.collective.empty()) {
      m.collective = fallback;
      m.backend = m.algorithm = "nccl";
    }
    if (!unreadable(m).empty()) {
      ++skipped;
      continue;
    }
    measurements.push_back(std::move(m));
  }
  return measurements;
}

Record record_from_bench_json(const Json& document, const std::string& name,
                             const std::optional<std::string>& collective) {
  if (!document.is_object() || !document.contains("results") || !document.contains("config")) {
    refuse(name, "not a cctune bench JSON file (no \"results\" and \"config\")");
  }
  const Fields top(document, name, "");
  Record record;
  record.kind = "bench";
  record.started = json_string(document, "start_time");
  record.ended = json_string(document, "end_time");
  record.command = json_string(document, "args");
  record.complete = top.flag("complete", false);
  const Json& env = top.object("env");
  const Fields environment(env, name, "env");
  record.cctune_version = json_string(env, "cctune_version");
  record.git_revision = json_string(env, "git_revision");
  record.nranks = environment.small_whole("nranks");
  record.nnodes = environment.small_whole("nnodes");
  if (record.nranks == 0 && document.contains("devices") && document["devices"].is_array()) {
    // nccl-tests says it per device: one entry per rank, with its host.
    std::set<std::string> hosts;
    for (const Json& device : document["devices"]) {
      if (device.is_object()) hosts.insert(json_string(device, "host"));
    }
    if (document["devices"].size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
      refuse(name, "devices: more entries than ranks can be counted");
    }
    record.nranks = static_cast<int>(document["devices"].size());
    record.nnodes = static_cast<int>(hosts.size());
  }
  record.fingerprint = json_string(env, "fingerprint");
  record.environment = {{"env", env}, {"config", document.at("config")}};
  if (document.contains("errors")) record.environment["errors"] = document["errors"];
  // nccl-tests' rows do not say what they measured: its binary's name does.
  const std::string fallback = collective.value_or(collective_of_nccl_tests_binary(record.command));
  const Json& rows = top.array("results");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].is_object() && !rows[i].contains("collective")) record.kind = "nccl-tests";
    for (Measurement& m : measurements_from_bench_row(rows[i], name, fmt::format("results[{}]", i), fallback,
                                                      record.skipped_rows)) {
      record.measurements.push_back(std::move(m));
    }
  }
  if (record.measurements.empty() && record.skipped_rows > 0) {
    refuse(name, fmt::format("no readable row: all {} have times that are not positive finite numbers",
                             record.skipped_rows));
  }
  return record;
}

Json record_to_json(const Record& record) {
  Json measurements = Json::array();
  for (const Measurement& m : record.measurements) {
    measurements.push_back({{"collective", m.collective}, {"backend", m.backend}, {"algorithm", m.algorithm},
                            {"datatype", m.datatype}, {"op", m.op}, {"bytes", m.bytes}, {"count", m.count},
                            {"in_place", m.in_place}, {"median_us", m.median_us}, {"min_us", m.min_us},
                            {"p99_us", m.p99_us}, {"mean_us", m.mean_us}, {"algbw_gbs", m.algbw_gbs},
                            {"busbw_gbs", m.busbw_gbs}, {"wrong", m.wrong}, {"samples_us", m.samples_us},
                            {"root", m.root}});
    if (m.max_error) measurements.back()["max_error"] = *m.max_error;
  }
  return {{"format", "cctune-record"}, {"version", 1}, {"id", record.id}, {"kind", record.kind},
          {"started", record.started}, {"ended", record.ended}, {"command", record.command},
          {"cctune_version", record.cctune_version}, {"git_revision", record.git_revision},
          {"nranks", record.nranks}, {"nnodes", record.nnodes}, {"fingerprint", record.fingerprint},
          {"environment", record.environment}, {"source", record.source}, {"complete", record.complete},
          {"measurements", measurements}};
}

Record record_from_json(const Json& document, const std::string& name) {
  if (!document.is_object() || json_string(document, "format") != "cctune-record") {
    refuse(name, "not a cctune record (format \"cctune-record\")");
  }
  const Fields top(document, name, "");
  if (top.whole("version", 0, kMaxWhole, 0) > 1) refuse(name, "a record from a newer cctune");
  Record r;
  r.id = top.whole("id", 0, kMaxWhole, 0);
  r.kind = top.required_text("kind");
  r.started = top.text("started");
  r.ended = top.text("ended");
  r.command = top.text("command");
  r.cctune_version = top.text("cctune_version");
  r.git_revision = top.text("git_revision");
  r.nranks = top.small_whole("nranks");
  r.nnodes = top.small_whole("nnodes");
  r.fingerprint = top.text("fingerprint");
  r.environment = top.object("environment");
  r.source = top.text("source");
  r.complete = top.flag("complete", false);
  const Json& measurements = top.array("measurements");
  for (std::size_t i = 0; i < measurements.size(); ++i) {
    const std::string where = fmt::format("measurements[{}]", i);
    if (!measurements[i].is_object()) {
      refuse(name, fmt::format("{}: {} is not an object", where, shown(measurements[i])));
    }
    const Fields j(measurements[i], name, where);
    Measurement m;
    m.collective = j.required_text("collective");
    m.backend = j.text("backend");
    m.algorithm = j.text("algorithm");
    m.datatype = j.text("datatype");
    m.op = j.text("op");
    m.bytes = j.required_unsigned_whole("bytes");
    m.count = j.unsigned_whole("count", 0);
    m.in_place = j.flag("in_place", false);
    m.median_us = j.number("median_us", 0.0);
    m.min_us = j.number("min_us", 0.0);
    m.p99_us = j.number("p99_us", 0.0);
    m.mean_us = j.number("mean_us", 0.0);
    m.algbw_gbs = j.number("algbw_gbs", 0.0);
    m.busbw_gbs = j.number("busbw_gbs", 0.0);
    m.wrong = j.whole("wrong", -1, kMaxWhole, -1);
    m.samples_us = j.numbers("samples_us");
    m.root = static_cast<int>(j.whole("root", -1, std::numeric_limits<int>::max(), -1));
    if (j.has("max_error")) m.max_error = j.number("max_error", 0.0);
    if (!unreadable(m).empty()) {
      ++r.skipped_rows;
      continue;
    }
    r.measurements.push_back(std::move(m));
  }
  if (r.measurements.empty() && r.skipped_rows > 0) {
    refuse(name, fmt::format("no readable measurement: all {} have times that are not positive finite numbers",
                             r.skipped_rows));
  }
  return r;
}

}  // namespace cctune::results
