// Helpers shared by unit tests that read files under tests/fixtures/.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "policy/topology.h"

namespace numapin::testing {

// The LoadTopology source of an hwloc XML export in tests/fixtures/topologies/.
inline std::string TopologyFixture(const std::string& name) {
  return std::string("xml:") + NUMAPIN_SOURCE_DIR + "/tests/fixtures/topologies/" + name;
}

// Loads a topology, failing the current test (and returning an empty one) when it does not load.
inline Topology MustLoadTopology(const std::string& source) {
  absl::StatusOr<Topology> topology = LoadTopology(source);
  EXPECT_TRUE(topology.ok()) << source << ": " << topology.status();
  return topology.ok() ? *std::move(topology) : Topology();
}

// Reads a file below tests/fixtures/, such as "pods/web-guaranteed.json".
inline std::string ReadFixture(const std::string& path) {
  std::ifstream in(std::string(NUMAPIN_SOURCE_DIR) + "/tests/fixtures/" + path);
  EXPECT_TRUE(in.good()) << "cannot open tests/fixtures/" << path;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace numapin::testing
