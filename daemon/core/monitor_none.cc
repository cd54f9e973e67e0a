// StartBpfMonitor for builds without the BPF monitor library.
#include "daemon/core/monitor_port.h"

namespace numapin {

absl::StatusOr<std::unique_ptr<SchedMonitor>> StartBpfMonitor(bool v1_cpuset) {
  return absl::UnimplementedError("numapind was built without the eBPF monitor (numapin_bpf)");
}

}  // namespace numapin
