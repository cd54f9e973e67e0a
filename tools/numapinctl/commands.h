// numapinctl's subcommands. Each takes the arguments after its name and returns the process exit
// status: 0 on success, 1 when some input failed but the rest was processed, 2 on a usage or
// set-up error.
#pragma once

#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include "policy/allocator.h"
#include "policy/topology.h"

namespace numapin::ctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitInputErrors = 1;
inline constexpr int kExitUsage = 2;

// numapinctl topology: prints NUMA nodes, cores, L3 caches, packages and distances.
int RunTopology(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// numapinctl simulate: replays pod events through NodeAllocator.
int RunSimulate(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// The core of simulate: applies the events read from `events` (one JSON object a line) in order
// and writes one JSON line per container decision, delete or init_done to `out`. Errors for
// malformed lines go to `err`, prefixed "events_name:LINE:". Returns how many lines failed.
int SimulateEvents(NodeAllocator& allocator, std::istream& events, const std::string& events_name,
                   std::ostream& out, std::ostream& err);

// Topology reports, as the topology subcommand prints them.
std::string TopologyText(const Topology& topology);
std::string TopologyJson(const Topology& topology);

}  // namespace numapin::ctl
