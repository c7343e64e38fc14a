// The node model read from real exports of GPU servers (../shared/fixtures/topology, see its
// SOURCES.md): counts and path classes checked against what each file says about its machine.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <pugixml.hpp>
#include <fstream>
#include <functional>

#include "collectives/error.hpp"
#include "topology/file_checks.hpp"
#include "topology/nccl_xml_export.hpp"
#include "topology/report.hpp"
#include "topology/serialize.hpp"
#include "topology/sources.hpp"
#include "tests/unit/temp_dir.hpp"

namespace cctune::topology {
namespace {

std::string fixture(const std::string& name) {
  const std::string path = std::string(CCTUNE_FIXTURES_DIR) + "/" + name;
  if (!std::filesystem::exists(path)) {
    ADD_FAILURE() << "fixture " << path << " not found: the repository must lie beside shared/ (or set CCTUNE_SHARED_DIR)";
  }
  return path;
}

int nics_at(const NodeModel& model, int gpu, PathClass path) {
  return static_cast<int>(std::count_if(model.nics.begin(), model.nics.end(),
                                        [&](int nic) { return path_class(model, gpu, nic) == path; }));
}

TEST(TopologyFixtures, Dgx2hHas16GpusBehind12NvSwitchesOnTwoNumaNodes) {
  const NodeModel model = load_hwloc_xml(fixture("hwloc-nvidia-dgx2h-16xV100-nvswitch.xml"));
  ASSERT_EQ(model.gpus.size(), 16u);
  EXPECT_EQ(model.nvswitches.size(), 12u);
  EXPECT_EQ(model.numa_nodes.size(), 2u);
  EXPECT_EQ(model.packages.size(), 2u);
  EXPECT_TRUE(model.nics.empty());
  EXPECT_NE(model.nodes[static_cast<std::size_t>(model.gpus[0])].name.find("V100"), std::string::npos);
  // Every GPU pair talks over NVLink through the NVSwitches.
  for (int a : model.gpus) {
    for (int b : model.gpus) {
      if (a != b) {
        ASSERT_EQ(path_class(model, a, b), PathClass::NVL);
      }
    }
  }
}

TEST(TopologyFixtures, G4dnHasOneEfaNicThatHalfTheGpusReachAcrossSockets) {
  const NodeModel model = load_hwloc_xml(fixture("hwloc-aws-g4dn-metal-8xT4-efa.xml"));
  ASSERT_EQ(model.gpus.size(), 8u);
  EXPECT_EQ(model.numa_nodes.size(), 2u);
  ASSERT_EQ(model.rdma_nic_count(), 1);
  const auto efa = *std::find_if(model.nics.begin(), model.nics.end(),
                                 [&](int n) { return model.nodes[static_cast<std::size_t>(n)].rdma; });
  EXPECT_EQ(model.nodes[static_cast<std::size_t>(efa)].name, "rdmap197s0");
  for (int i = 0; i < 8; ++i) {
    const int gpu = model.gpus[static_cast<std::size_t>(i)];
    const PathClass path = path_class(model, gpu, efa);
    if (i < 4) {
      EXPECT_EQ(path, PathClass::SYS) << "GPU " << i;
    } else {
      EXPECT_LT(path, PathClass::SYS) << "GPU " << i;
      EXPECT_EQ(path, PathClass::NODE) << "GPU " << i;  // same socket, different host bridge
    }
    EXPECT_EQ(nearest_nics(model, gpu), std::vector<int>{efa});
  }
  // No NVLink on T4s: GPU pairs are PCIe paths.
  EXPECT_NE(path_class(model, model.gpus[0], model.gpus[1]), PathClass::NVL);
  EXPECT_EQ(path_class(model, model.gpus[0], model.gpus[7]), PathClass::SYS);
}

TEST(TopologyFixtures, NdH100v5PairsEveryGpuWithExactlyOneNicBehindItsSwitch) {
  const NodeModel model = load_nccl_xml(fixture("nccl-azure-ndv5-8xH100-8xIB.xml"));
  ASSERT_EQ(model.gpus.size(), 8u);
  ASSERT_EQ(model.nics.size(), 8u);
  EXPECT_EQ(model.numa_nodes.size(), 2u);
  for (int gpu : model.gpus) {
    EXPECT_EQ(nics_at(model, gpu, PathClass::PIX), 1);
    EXPECT_EQ(nearest_nics(model, gpu).size(), 1u);
  }
  for (int nic : model.nics) {
    EXPECT_EQ(std::count_if(model.gpus.begin(), model.gpus.end(),
                            [&](int gpu) { return path_class(model, gpu, nic) == PathClass::PIX; }),
              1);
  }
  // Other NICs under the same CPU are one host bridge away; under the other CPU, across sockets.
  EXPECT_EQ(nics_at(model, model.gpus[0], PathClass::PHB), 3);
  EXPECT_EQ(nics_at(model, model.gpus[0], PathClass::SYS), 4);
}

TEST(TopologyFixtures, P4dHasTwoGpusPixPerEfaNicAndItsCommentsAreSkipped) {
  const NodeModel model = load_nccl_xml(fixture("nccl-aws-p4d-24xl-8xA100-4xEFA.xml"));
  ASSERT_EQ(model.gpus.size(), 8u);
  ASSERT_EQ(model.nics.size(), 4u);
  for (int nic : model.nics) {
    EXPECT_EQ(model.nodes[static_cast<std::size_t>(nic)].vendor_id, 0x1d0fu);
    EXPECT_EQ(std::count_if(model.gpus.begin(), model.gpus.end(),
                            [&](int gpu) { return path_class(model, gpu, nic) == PathClass::PIX; }),
              2);
  }
  for (int gpu : model.gpus) EXPECT_EQ(nics_at(model, gpu, PathClass::PIX), 1);
}

TEST(TopologyFixtures, NdA100v4HasFourNumaNodesWithTwoGpusAndTwoNicsEach) {
  const NodeModel model = load_nccl_xml(fixture("nccl-azure-ndv4-8xA100-8xIB.xml"));
  ASSERT_EQ(model.gpus.size(), 8u);
  ASSERT_EQ(model.nics.size(), 8u);
  EXPECT_EQ(model.numa_nodes.size(), 4u);
  for (int gpu : model.gpus) EXPECT_EQ(nics_at(model, gpu, PathClass::PIX), 2);
}

const char* const kFixtures[] = {"hwloc-nvidia-dgx2h-16xV100-nvswitch.xml", "hwloc-aws-g4dn-metal-8xT4-efa.xml",
                                 "nccl-azure-ndv5-8xH100-8xIB.xml", "nccl-azure-ndv4-8xA100-8xIB.xml",
                                 "nccl-aws-p4d-24xl-8xA100-4xEFA.xml"};

NodeModel load_fixture(const std::string& name) {
  return name.rfind("hwloc", 0) == 0 ? load_hwloc_xml(fixture(name)) : load_nccl_xml(fixture(name));
}

TEST(Fingerprint, EqualAcrossLoadsAndJsonDifferentAcrossMachines) {
  std::vector<std::string> prints;
  for (const char* name : kFixtures) {
    const NodeModel model = load_fixture(name);
    const std::string print = fingerprint(model);
    EXPECT_EQ(print.size(), 16u);
    EXPECT_EQ(fingerprint(load_fixture(name)), print) << name;
    EXPECT_EQ(fingerprint(model_from_json(to_json(model))), print) << name;
    prints.push_back(print);
  }
  std::sort(prints.begin(), prints.end());
  EXPECT_EQ(std::unique(prints.begin(), prints.end()), prints.end()) << "two machines share a fingerprint";
}

TEST(Fingerprint, IgnoresDiscoveryOrderAndHostNames) {
  // The same file with its two CPUs swapped: a different discovery order of the same machine.
  std::ifstream in(fixture("nccl-aws-p4d-24xl-8xA100-4xEFA.xml"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto first = text.find("<cpu "), second = text.find("<cpu ", first + 1), end = text.find("</system>");
  const std::string swapped = text.substr(0, first) + text.substr(second, end - second) +
                              text.substr(first, second - first) + text.substr(end);
  const test_files::TempDir dir("swapped-p4d");
  const auto path = dir / "swapped.xml";
  std::ofstream(path) << swapped;
  EXPECT_EQ(fingerprint(load_nccl_xml(path.string())), fingerprint(load_fixture("nccl-aws-p4d-24xl-8xA100-4xEFA.xml")));
  NodeModel renamed = load_fixture("hwloc-aws-g4dn-metal-8xT4-efa.xml");
  renamed.source = "hwloc (live) on another-host";
  EXPECT_EQ(fingerprint(renamed), fingerprint(load_fixture("hwloc-aws-g4dn-metal-8xT4-efa.xml")));
}

TEST(NcclXmlExport, LoadsBackWithTheSameGpusAndNics) {
  for (const char* name : kFixtures) {
    const NodeModel model = load_fixture(name);
    const test_files::TempDir dir("export-test");
    const auto path = dir / "export.xml";
    std::ofstream(path) << export_nccl_xml(model);
    const NodeModel back = load_nccl_xml(path.string());
    auto busids = [](const NodeModel& m, const std::vector<int>& list) {
      std::vector<std::string> ids;
      for (int i : list) ids.push_back(m.nodes[static_cast<std::size_t>(i)].busid);
      return ids;
    };
    EXPECT_EQ(busids(back, back.gpus), busids(model, model.gpus)) << name;
    EXPECT_EQ(busids(back, back.nics), busids(model, model.nics)) << name;
    // GPU-NIC closeness survives the trip for what NCCL decides with: the PIX pairs.
    for (std::size_t g = 0; g < model.gpus.size(); ++g) {
      for (std::size_t n = 0; n < model.nics.size(); ++n) {
        EXPECT_EQ(path_class(back, back.gpus[g], back.nics[n]) == PathClass::PIX,
                  path_class(model, model.gpus[g], model.nics[n]) == PathClass::PIX)
            << name << " GPU " << g << " NIC " << n;
      }
    }
  }
}

TEST(NicSpeed, ReadFromSysfsForVerbsAndEthernet) {
  const test_files::TempDir temp("fake-sys");
  const std::filesystem::path& root = temp.path();
  std::filesystem::create_directories(root / "class/infiniband/mlx5_0/ports/1");
  std::filesystem::create_directories(root / "class/net/eth0");
  std::filesystem::create_directories(root / "class/net/eth1");
  std::ofstream(root / "class/infiniband/mlx5_0/ports/1/rate") << "400 Gb/sec (4X NDR)\n";
  std::ofstream(root / "class/net/eth0/speed") << "100000\n";
  std::ofstream(root / "class/net/eth1/speed") << "-1\n";
  EXPECT_DOUBLE_EQ(nic_speed_gbps("mlx5_0", true, root.string()), 400.0);
  EXPECT_DOUBLE_EQ(nic_speed_gbps("eth0", false, root.string()), 100.0);
  EXPECT_DOUBLE_EQ(nic_speed_gbps("eth1", false, root.string()), 0.0);
  EXPECT_DOUBLE_EQ(nic_speed_gbps("mlx5_9", true, root.string()), 0.0);
}

// ---- bad files: one UsageError naming the file and the reason, never a crash ----

class BadTopologyFiles : public testing::Test {
 protected:
  const test_files::TempDir temp{"topology-test"};
  const std::filesystem::path& dir = temp.path();
  std::string write(const std::string& name, const std::string& text) {
    const auto path = (dir / name).string();
    std::ofstream(path) << text;
    return path;
  }
  static std::string error_of(const std::function<void()>& load) {
    try {
      load();
    } catch (const UsageError& e) {
      return e.what();
    }
    return "";
  }
};

TEST_F(BadTopologyFiles, EachIsRefusedWithItsNameAndReason) {
  const std::string missing = (dir / "missing.xml").string();
  EXPECT_EQ(error_of([&] { load_hwloc_xml(missing); }), missing + ": topology file: no such file");
  const std::string empty = write("empty.xml", "");
  EXPECT_EQ(error_of([&] { load_nccl_xml(empty); }), empty + ": empty file");
  const std::string text = write("text.xml", "this is not XML at all\n");
  EXPECT_NE(error_of([&] { load_hwloc_xml(text); }).find(text + ": "), std::string::npos);

  std::ifstream original(fixture("nccl-aws-p4d-24xl-8xA100-4xEFA.xml"));
  std::string content((std::istreambuf_iterator<char>(original)), std::istreambuf_iterator<char>());
  const std::string truncated = write("truncated.xml", content.substr(0, content.size() / 2));
  EXPECT_NE(error_of([&] { load_nccl_xml(truncated); }).find("not well-formed XML"), std::string::npos);

  const std::string hwloc3 = write("hwloc3.xml", "<?xml version=\"1.0\"?>\n<topology version=\"3.0\">"
                                                 "<object type=\"Machine\" os_index=\"0\"/></topology>\n");
  EXPECT_NE(error_of([&] { load_hwloc_xml(hwloc3); }).find("hwloc 3.0 XML is not supported"), std::string::npos);

  std::string nested = "<system version=\"1\">";
  for (int i = 0; i < 200000; ++i) nested += "<pci>";
  const std::string deep = write("deep.xml", nested);  // unclosed as well as deep
  EXPECT_NE(error_of([&] { load_nccl_xml(deep); }).find(deep + ": "), std::string::npos);
  std::string closed = "<system version=\"1\"><cpu>";
  for (int i = 0; i < 5000; ++i) closed += "<pci>";
  for (int i = 0; i < 5000; ++i) closed += "</pci>";
  closed += "</cpu></system>";
  const std::string deep_closed = write("deep_closed.xml", closed);
  EXPECT_NE(error_of([&] { load_nccl_xml(deep_closed); }).find("nested more than"), std::string::npos);
  EXPECT_NE(error_of([&] { load_hwloc_xml(deep_closed); }).find(deep_closed + ": "), std::string::npos);

  const std::string huge = (dir / "huge.xml").string();
  std::filesystem::resize_file(write("huge.xml", "<"), std::uintmax_t{65} << 20);
  EXPECT_NE(error_of([&] { load_hwloc_xml(huge); }).find("more than the 64 MiB"), std::string::npos);

  EXPECT_NE(error_of([&] { load_hwloc_xml(fixture("nccl-azure-ndv5-8xH100-8xIB.xml")); }).find("--nccl-xml"),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_nccl_xml(fixture("hwloc-aws-g4dn-metal-8xT4-efa.xml")); }).find("--xml"),
            std::string::npos);
}

// hwloc's libxml import crashed (SIGSEGV) on any DOCTYPE that declares an entity; the pre-check
// refuses internal DTD subsets before hwloc sees the file, for both kinds of file.
TEST_F(BadTopologyFiles, ADoctypeThatDeclaresEntitiesIsRefusedBeforeHwlocReadsIt_Item9) {
  const std::string hwloc = write("entity.xml", "<?xml version=\"1.0\"?>\n<!DOCTYPE topology [<!ENTITY x \"y\">]>\n"
                                                "<topology version=\"2.0\">\n  <object type=\"Machine\" "
                                                "os_index=\"0\" name=\"&x;\"/>\n</topology>\n");
  EXPECT_NE(error_of([&] { load_hwloc_xml(hwloc); }).find(hwloc + ": its DOCTYPE declares entities"),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_topology_xml(hwloc); }).find("internal DTD subset"), std::string::npos);
  const std::string nccl = write("entity-nccl.xml",
                                 "<!DOCTYPE system [<!ENTITY a \"aaaaaaaa\"><!ENTITY b \"&a;&a;\">]>\n"
                                 "<system version=\"1\"><cpu numaid=\"&b;\"/></system>\n");
  EXPECT_NE(error_of([&] { load_nccl_xml(nccl); }).find("internal DTD subset"), std::string::npos);
  // A DOCTYPE that names no DTD crashed hwloc the same way (it reads the missing system id).
  const std::string bare = write("bare.xml", "<?xml version=\"1.0\"?>\n<!DOCTYPE topology>\n"
                                             "<topology version=\"2.0\"><object type=\"Machine\" os_index=\"0\"/>"
                                             "</topology>\n");
  EXPECT_NE(error_of([&] { load_hwloc_xml(bare); }).find(bare + ": its DOCTYPE names no DTD"), std::string::npos);
  // What hwloc itself writes stays readable.
  const std::string plain = write("plain.xml", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                                               "<!DOCTYPE topology SYSTEM \"hwloc2.dtd\">\n<topology version=\"2.0\">\n"
                                               "  <object type=\"Machine\" os_index=\"0\" cpuset=\"0x00000001\" "
                                               "complete_cpuset=\"0x00000001\" allowed_cpuset=\"0x00000001\" "
                                               "nodeset=\"0x00000001\" complete_nodeset=\"0x00000001\" "
                                               "allowed_nodeset=\"0x00000001\" gp_index=\"1\">\n"
                                               "    <object type=\"NUMANode\" os_index=\"0\" cpuset=\"0x00000001\" "
                                               "complete_cpuset=\"0x00000001\" nodeset=\"0x00000001\" "
                                               "complete_nodeset=\"0x00000001\" gp_index=\"3\"/>\n"
                                               "    <object type=\"PU\" os_index=\"0\" cpuset=\"0x00000001\" "
                                               "complete_cpuset=\"0x00000001\" nodeset=\"0x00000001\" "
                                               "complete_nodeset=\"0x00000001\" gp_index=\"2\"/>\n"
                                               "  </object>\n</topology>\n");
  EXPECT_EQ(error_of([&] { load_hwloc_xml(plain); }), "");
}

// A directory is a directory (not "an empty file"), a FIFO or a device is refused unread, and a file
// hwloc cannot load gets a reason, never "(Success)" (hwloc does not always set errno).
TEST_F(BadTopologyFiles, DirectoriesDevicesAndHwlocFailuresAreNamedForWhatTheyAre_Item22_Item7) {
  EXPECT_NE(error_of([&] { load_hwloc_xml(dir.string()); }).find("is a directory"), std::string::npos);
  const std::string fifo = (dir / "topo.fifo").string();
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_NE(error_of([&] { load_nccl_xml(fifo); }).find("not a regular file"), std::string::npos);
  EXPECT_NE(error_of([&] { load_hwloc_xml("/dev/zero"); }).find("not a regular file"), std::string::npos);
  const std::string objectless = write("objectless.xml", "<topology version=\"2.0\"></topology>\n");
  const std::string message = error_of([&] { load_hwloc_xml(objectless); });
  EXPECT_NE(message.find(objectless + ": "), std::string::npos) << message;
  EXPECT_EQ(message.find("Success"), std::string::npos) << message;
}

// A topology whose PCI devices carry no class (as some hand-made NCCL files do) is not "no GPU, no
// NIC": the report says how many devices it could not classify.
TEST_F(BadTopologyFiles, UnclassifiedDevicesAreCountedNotCalledAbsent_Item22) {
  std::string text = "<system version=\"1\">\n  <cpu numaid=\"0\">\n";
  for (int i = 0; i < 32; ++i) text += fmt::format("    <pci busid=\"0000:{:02x}:00.0\"></pci>\n", i + 1);
  text += "  </cpu>\n</system>\n";
  const NodeModel model = load_nccl_xml(write("classless.xml", text));
  char* buffer = nullptr;
  std::size_t size = 0;
  std::FILE* out = open_memstream(&buffer, &size);
  print_node(out, model);
  std::fclose(out);
  const std::string printed(buffer, size);
  std::free(buffer);
  EXPECT_NE(printed.find("32 PCI devices could not be classified"), std::string::npos) << printed;
  EXPECT_EQ(printed.find("no NVIDIA GPU"), std::string::npos) << printed;
}

// Numbers in an NCCL file are read as the numbers they are: strtoul truncated an oversized class to
// 32 bits and read "0x02zz" as 2; as_int clamped a NUMA id; a NaN speed passed every comparison.
TEST_F(BadTopologyFiles, NumbersInNcclFilesAreRangeCheckedNotTruncated_Item21) {
  auto file = [&](const std::string& cpu, const std::string& pci, const std::string& net) {
    return write("numbers.xml", "<system version=\"1\"><cpu numaid=\"" + cpu + "\"><pci busid=\"0000:01:00.0\" " +
                                    pci + "><nic><net name=\"ib0\" dev=\"0\" speed=\"" + net +
                                    "\"></net></nic></pci></cpu></system>");
  };
  const std::string good = "class=\"0x020700\" vendor=\"0x15b3\" device=\"0x1021\"";
  EXPECT_EQ(error_of([&] { load_nccl_xml(file("0", good, "400000")); }), "");
  EXPECT_NE(error_of([&] { load_nccl_xml(file("0", "class=\"0x1000020700\"", "1")); })
                .find("class=\"0x1000020700\": not a hex number from 0 to 0xffffff"),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_nccl_xml(file("0", "class=\"0x020700\" vendor=\"0x15zz\"", "1")); })
                .find("vendor=\"0x15zz\": not a hex number from 0 to 0xffff"),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_nccl_xml(file("99999999999", good, "1")); }).find("numaid=\"99999999999\""),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_nccl_xml(file("0", good, "nan")); }).find("speed=\"nan\""), std::string::npos);
}

// Names come from the system and Linux allows "<>& in an interface name: every attribute is escaped,
// so the file stays well-formed, injects nothing, and the names come back as they were.
TEST_F(BadTopologyFiles, ExportedAttributesAreEscapedAndNamesRoundTrip_Item20) {
  NodeModel model;
  const int package = model.add(Node{NodeKind::package}, 0);
  Node gpu{NodeKind::gpu};
  gpu.busid = "0000:01:00.0";
  gpu.pci_class = 0x0302;
  gpu.vendor_id = 0x10de;
  model.add(std::move(gpu), package);
  const std::vector<std::string> names = {"eth\"0\"/><pci busid=\"evil\"/>", "ib<&>'1"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    Node nic{NodeKind::nic};
    nic.busid = fmt::format("0000:0{}:00.0", i + 2);
    nic.pci_class = 0x0207;
    nic.name = names[i];
    nic.speed_gbps = 100;
    model.add(std::move(nic), package);
  }
  model.order_devices_by_bus();
  const std::string xml = export_nccl_xml(model);
  pugi::xml_document document;
  ASSERT_TRUE(document.load_string(xml.c_str())) << xml;
  std::vector<std::string> exported;
  for (const auto& net : document.select_nodes("//net")) exported.push_back(net.node().attribute("name").value());
  EXPECT_EQ(exported, names) << xml;
  EXPECT_EQ(document.select_nodes("//pci[@busid='evil']").size(), 0u) << xml;
  const NodeModel back = load_nccl_xml(write("escaped.xml", xml));
  ASSERT_EQ(back.nics.size(), 2u);
  EXPECT_EQ(back.nodes[static_cast<std::size_t>(back.nics[0])].name, names[0]);
  EXPECT_EQ(back.nodes[static_cast<std::size_t>(back.nics[1])].name, names[1]);
}

}  // namespace
}  // namespace cctune::topology
