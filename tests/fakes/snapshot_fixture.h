// A synthetic DaemonSnapshot for the metrics tests and the /metrics render benchmark: containers
// holding exclusive CPUs spread over NUMA nodes, shared-pool containers, reserved CPUs, non-zero
// counters, histogram samples and violations.
#pragma once

#include "daemon/snapshot.h"

namespace numapin {

struct SnapshotShape {
  int containers = 6;  // Every third container is in the shared pool; the others get 2 CPUs.
  int cpus = 16;
  int numa_nodes = 2;     // CPUs are split into equal consecutive blocks, one per node.
  int reserved_cpus = 2;  // The first CPUs.
  int violations = 3;
};

DaemonSnapshot MakeTestSnapshot(const SnapshotShape& shape = {});

}  // namespace numapin
