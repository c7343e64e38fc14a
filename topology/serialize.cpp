#include "topology/serialize.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>
#include <fmt/format.h>

#include "collectives/error.hpp"

namespace cctune::topology {
namespace {

constexpr NodeKind kKinds[] = {NodeKind::machine, NodeKind::package, NodeKind::host_bridge, NodeKind::pci_switch,
                               NodeKind::gpu,     NodeKind::nic,     NodeKind::nvswitch,    NodeKind::pci_device};

NodeKind kind_from(const std::string& name) {
  for (NodeKind kind : kKinds) {
    if (to_string(kind) == name) return kind;
  }
  CCTUNE_THROW("unknown node kind '" + name + "' in a topology JSON document");
}

std::string hex(unsigned value, int digits) { return fmt::format("0x{:0{}x}", value, digits); }

nlohmann::ordered_json device_json(const NodeModel& model, int index, int number) {
  const Node& node = model.nodes[static_cast<std::size_t>(index)];
  nlohmann::ordered_json j;
  j["index"] = number;
  j["busid"] = node.busid;
  j["name"] = node.name;
  j["vendor"] = node.vendor;
  j["numa"] = node.numa;
  if (node.kind == NodeKind::nic) {
    j["rdma"] = node.rdma;
    j["speed_gbps"] = node.speed_gbps;
  }
  return j;
}

// FNV-1a, 64 bits: tiny, stable across platforms and releases, and enough to tell machine types apart.
std::uint64_t fnv1a(const std::string& text) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

}  // namespace

nlohmann::ordered_json to_json(const NodeModel& model) {
  nlohmann::ordered_json j;
  j["source"] = model.source;
  j["fingerprint"] = fingerprint(model);
  nlohmann::ordered_json numa = nlohmann::ordered_json::array();
  for (const auto& n : model.numa_nodes) {
    numa.push_back({{"os_index", n.os_index}, {"cpuset", n.cpuset}, {"memory_bytes", n.memory_bytes}});
  }
  j["numa_nodes"] = numa;
  j["packages"] = model.packages.size();
  auto devices = [&](const std::vector<int>& list) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < list.size(); ++i) out.push_back(device_json(model, list[i], static_cast<int>(i)));
    return out;
  };
  j["gpus"] = devices(model.gpus);
  j["nics"] = devices(model.nics);
  j["nvswitches"] = devices(model.nvswitches);
  auto matrix = [&](const std::vector<int>& rows, const std::vector<int>& columns) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (int row : rows) {
      nlohmann::ordered_json line = nlohmann::ordered_json::array();
      for (int column : columns) line.push_back(row == column ? "X" : std::string(to_string(path_class(model, row, column))));
      out.push_back(line);
    }
    return out;
  };
  j["gpu_gpu_paths"] = matrix(model.gpus, model.gpus);
  j["gpu_nic_paths"] = matrix(model.gpus, model.nics);
  nlohmann::ordered_json nearest = nlohmann::ordered_json::array();
  for (int gpu : model.gpus) {
    nlohmann::ordered_json names = nlohmann::ordered_json::array();
    for (int nic : nearest_nics(model, gpu)) {
      names.push_back(std::find(model.nics.begin(), model.nics.end(), nic) - model.nics.begin());
    }
    nearest.push_back(names);
  }
  j["nearest_nics"] = nearest;
  nlohmann::ordered_json nodes = nlohmann::ordered_json::array();
  for (const Node& node : model.nodes) {
    nodes.push_back({{"kind", to_string(node.kind)}, {"parent", node.parent}, {"busid", node.busid},
                     {"name", node.name}, {"vendor", node.vendor}, {"class", hex(node.pci_class, 4)},
                     {"vendor_id", hex(node.vendor_id, 4)}, {"device_id", hex(node.device_id, 4)},
                     {"numa", node.numa}, {"speed_gbps", node.speed_gbps}, {"rdma", node.rdma},
                     {"pcie_gbs", node.pcie_gbs}});
  }
  j["nodes"] = nodes;
  nlohmann::ordered_json links = nlohmann::ordered_json::array();
  for (const NvLink& link : model.nvlinks) links.push_back({link.first, link.second, link.gbs});
  j["nvlinks"] = links;
  return j;
}

namespace {

// "0302" as the 16-bit number it is (std::stoul took any length and said only "stoul" when it failed).
unsigned hex_field(const nlohmann::ordered_json& node, const char* key) {
  const std::string text = node.at(key).get<std::string>();
  std::string_view digits = text;
  if (digits.starts_with("0x")) digits.remove_prefix(2);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, 16);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || value > 0xffff) {
    CCTUNE_THROW(fmt::format("malformed topology JSON: {} '{}' is not a hex number from 0 to ffff", key, text));
  }
  return value;
}

// A link or port rate: finite, from 0 (unknown) to 10^6 GB/s.
double rate_field(double value, const char* what) {
  if (!std::isfinite(value) || value < 0 || value > 1e6) {
    CCTUNE_THROW(fmt::format("malformed topology JSON: {} {} is not a rate from 0 to 1e6 GB/s", what, value));
  }
  return value;
}

}  // namespace

NodeModel model_from_json(const nlohmann::ordered_json& j) {
  try {
    NodeModel model;
    model.source = j.at("source").get<std::string>();
    for (const auto& n : j.at("numa_nodes")) {
      model.numa_nodes.push_back({n.at("os_index").get<int>(), n.at("cpuset").get<std::string>(),
                                  n.at("memory_bytes").get<std::uint64_t>()});
    }
    const auto& nodes = j.at("nodes");
    for (std::size_t i = 1; i < nodes.size(); ++i) {  // nodes[0] is the machine NodeModel starts with
      const auto& n = nodes[i];
      Node node(kind_from(n.at("kind").get<std::string>()));
      node.busid = n.at("busid").get<std::string>();
      node.name = n.at("name").get<std::string>();
      node.vendor = n.at("vendor").get<std::string>();
      node.pci_class = hex_field(n, "class");
      node.vendor_id = hex_field(n, "vendor_id");
      node.device_id = hex_field(n, "device_id");
      node.numa = n.at("numa").get<int>();
      node.speed_gbps = n.at("speed_gbps").get<double>();
      node.rdma = n.at("rdma").get<bool>();
      node.pcie_gbs = rate_field(n.value("pcie_gbs", 0.0), "pcie_gbs");  // absent in models from before speeds
      const int parent = n.at("parent").get<int>();
      if (parent < 0 || static_cast<std::size_t>(parent) >= i) CCTUNE_THROW("node " + std::to_string(i) + " has a bad parent");
      model.add(std::move(node), parent);
    }
    for (const auto& link : j.at("nvlinks")) {
      model.nvlinks.push_back({link.at(0).get<int>(), link.at(1).get<int>(), link.size() > 2 ? rate_field(link.at(2).get<double>(), "nvlink GB/s") : 0.0});
    }
    model.order_devices_by_bus();
    return model;
  } catch (const nlohmann::json::exception& e) {
    CCTUNE_THROW(std::string("malformed topology JSON: ") + e.what());
  } catch (const std::logic_error& e) {
    CCTUNE_THROW(std::string("malformed topology JSON: ") + e.what());
  }
}

std::string fingerprint(const NodeModel& model) {
  auto describe = [&](int index) {
    const Node& node = model.nodes[static_cast<std::size_t>(index)];
    // GPU model names, not NIC names: NIC names may embed bus numbers (rdmap197s0).
    return fmt::format("{}:{:04x}:{:04x}:{:04x}:{}:{}", to_string(node.kind), node.vendor_id, node.device_id,
                       node.pci_class, node.kind == NodeKind::gpu ? node.name : "", node.rdma);
  };
  std::vector<std::string> parts;
  std::vector<int> devices = model.gpus;
  devices.insert(devices.end(), model.nics.begin(), model.nics.end());
  devices.insert(devices.end(), model.nvswitches.begin(), model.nvswitches.end());
  for (int device : devices) {
    // Each device with the sorted multiset of (other device, path class): independent of numbering.
    std::vector<std::string> relations;
    for (int other : devices) {
      if (other != device && model.nodes[static_cast<std::size_t>(device)].kind != NodeKind::nvswitch &&
          model.nodes[static_cast<std::size_t>(other)].kind != NodeKind::nvswitch) {
        relations.push_back(describe(other) + "@" + std::string(to_string(path_class(model, device, other))));
      }
    }
    std::sort(relations.begin(), relations.end());
    std::string part = describe(device);
    for (const auto& relation : relations) part += "|" + relation;
    parts.push_back(part);
  }
  std::sort(parts.begin(), parts.end());
  std::string canonical = fmt::format("numa={};packages={};nvlinks={};", model.numa_nodes.size(),
                                      model.packages.size(), model.nvlinks.size());
  for (const auto& part : parts) canonical += part + "\n";
  return fmt::format("{:016x}", fnv1a(canonical));
}

}  // namespace cctune::topology
