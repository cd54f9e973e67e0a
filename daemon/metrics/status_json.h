// The /status document: a JSON copy of a DaemonSnapshot for `numapinctl status` and for people
// with curl. Times are Unix nanoseconds, run times seconds, CPU lists the kernel list format.
#pragma once

#include "daemon/snapshot.h"
#include "nlohmann/json.hpp"

namespace numapin {

const char* CpuOwnerName(CpuOwner owner);  // "shared", "reserved", "exclusive".

// Fields: node, mode, taken_unix_nanos, ready{topology_loaded, checkpoint_loaded,
// first_sync_done}, monitor_up, containers[], cpus[] (owner, and owner_container as an index into
// containers or -1), recent_violations[], counters{...}.
nlohmann::json StatusJson(const DaemonSnapshot& snapshot);

}  // namespace numapin
