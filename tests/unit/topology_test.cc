// Topology loaded through hwloc from real machines' XML exports, synthetic descriptions and the
// host: OS indexes, SMT siblings, NUMA nodes, L3 caches and distances.
#include "policy/topology.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"

namespace numapin {
namespace {

std::string Fixture(const std::string& name) {
  return std::string("xml:") + NUMAPIN_SOURCE_DIR + "/tests/fixtures/topologies/" + name;
}

Topology MustLoad(const std::string& source) {
  absl::StatusOr<Topology> topology = LoadTopology(source);
  EXPECT_TRUE(topology.ok()) << source << ": " << topology.status();
  return topology.ok() ? *std::move(topology) : Topology();
}

TEST(TopologyXml, InterleavedNumberingUsesOsIndexes) {
  Topology t = MustLoad(Fixture("24em64t-2n6c2t-pci.xml"));
  ASSERT_EQ(t.numa_nodes().size(), 2u);
  EXPECT_EQ(t.assignable_cpus().Size(), 24);
  EXPECT_EQ(t.FindNode(0)->cpus.ToString(), "0,2,4,6,8,10,12,14,16,18,20,22");
  EXPECT_EQ(t.FindNode(1)->cpus.ToString(), "1,3,5,7,9,11,13,15,17,19,21,23");
  EXPECT_EQ(t.SiblingsOf(0).ToString(), "0,12");
  EXPECT_EQ(t.SiblingsOf(13).ToString(), "1,13");
  EXPECT_EQ(t.SmtWidth(), 2);
  EXPECT_EQ(t.cores().size(), 12u);
  EXPECT_EQ(t.NodeOf(13), 1);
  EXPECT_GT(t.FindNode(0)->memory_bytes, 0u);
}

TEST(TopologyXml, NumaOrderDiffersFromCpuOrder) {
  Topology t = MustLoad(Fixture("16amd64-4distances.xml"));
  ASSERT_EQ(t.numa_nodes().size(), 8u);
  EXPECT_EQ(t.FindNode(1)->cpus.ToString(), "0-1");
  EXPECT_EQ(t.FindNode(0)->cpus.ToString(), "2-3");
  EXPECT_EQ(t.NodeOf(0), 1);
  ASSERT_TRUE(t.HasDistanceMatrix());
  EXPECT_EQ(t.Distance(0, 0), 10);
  // This export's NUMA matrix is flat (its richer matrices are between packages and cores).
  EXPECT_EQ(t.Distance(0, 4), 20);
  EXPECT_EQ(t.Distance(4, 0), 20);
}

TEST(TopologyXml, TwentyFourNodesWithSiblingsAtOffset) {
  Topology t = MustLoad(Fixture("192em64t-24n8c2t.xml"));
  EXPECT_EQ(t.numa_nodes().size(), 24u);
  EXPECT_EQ(t.assignable_cpus().Size(), 384);
  EXPECT_EQ(t.SiblingsOf(5).ToString(), "5,197");
  EXPECT_EQ(t.NodeOf(197), t.NodeOf(5));
}

TEST(TopologyXml, NoCoreObjectsMakesEachCpuACore) {
  Topology t = MustLoad(Fixture("8intel64-4n2t-memattrs.xml"));
  EXPECT_EQ(t.numa_nodes().size(), 4u);
  EXPECT_EQ(t.assignable_cpus().Size(), 8);
  for (const Core& core : t.cores()) EXPECT_EQ(core.cpus.Size(), 1) << core.cpus.ToString();
}

TEST(TopologyXml, L3DomainsInterleaved) {
  Topology t = MustLoad(Fixture("96em64t-4n4d3ca2co-pci.xml"));
  EXPECT_EQ(t.numa_nodes().size(), 4u);
  EXPECT_EQ(t.SmtWidth(), 1);
  EXPECT_EQ(t.l3_caches().size(), 16u);
  EXPECT_EQ(t.L3Of(0), t.L3Of(4)) << "package CPUs interleave by 4";
}

TEST(TopologySynthetic, BuildsNodesCoresAndSiblings) {
  Topology t = MustLoad("synthetic:package:2 numa:1 core:6 pu:2");
  EXPECT_EQ(t.numa_nodes().size(), 2u);
  EXPECT_EQ(t.assignable_cpus().Size(), 24);
  EXPECT_EQ(t.SmtWidth(), 2);
  EXPECT_EQ(t.SiblingsOf(0).Size(), 2);
}

TEST(TopologySource, RejectsUnknownSourcesNamingThem) {
  absl::StatusOr<Topology> bad = LoadTopology("numa:2");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("numa:2"), std::string::npos) << bad.status();
  absl::StatusOr<Topology> missing = LoadTopology("xml:/nonexistent/topology.xml");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/topology.xml"), std::string::npos);
  absl::StatusOr<Topology> garbage = LoadTopology("synthetic:pu:banana");
  EXPECT_FALSE(garbage.ok());
}

TEST(TopologySource, MissingXmlFileIsNotFound) {
  absl::StatusOr<Topology> missing = LoadTopology("xml:/nonexistent/topology.xml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_NE(missing.status().message().find("No such file or directory"), std::string::npos)
      << missing.status();
  EXPECT_NE(missing.status().message().find("fix the path"), std::string::npos) << missing.status();
}

TEST(TopologySource, MalformedXmlFileIsInvalid) {
  char path[] = "/tmp/numapin-topology-test-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "not xml\n", 8), 8);
  close(fd);
  absl::StatusOr<Topology> malformed = LoadTopology(absl::StrCat("xml:", path));
  unlink(path);
  ASSERT_FALSE(malformed.ok());
  EXPECT_EQ(malformed.status().code(), absl::StatusCode::kInvalidArgument) << malformed.status();
  EXPECT_NE(malformed.status().message().find("lstopo --of xml"), std::string::npos)
      << malformed.status();
}

TEST(TopologyHost, SeesEveryOnlineCpu) {
  std::ifstream file("/sys/devices/system/cpu/online");
  std::string text;
  std::getline(file, text);
  absl::StatusOr<CpuSet> online = CpuSet::Parse(text);
  ASSERT_TRUE(online.ok()) << online.status();
  Topology t = MustLoad("host");
  EXPECT_EQ(t.assignable_cpus(), *online);
  EXPECT_GE(t.numa_nodes().size(), 1u);
}

}  // namespace
}  // namespace numapin
