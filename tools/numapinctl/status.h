// numapinctl status: fetches numapind's /status and prints each NUMA node's CPUs with their owner
// (exclusive container, shared pool, reserved) as a terminal map, plus recent violations.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace numapin::ctl {

// Takes the arguments after "status": [--address=HOST:PORT] [--output=text|json]. Returns 0 on
// success, 1 when numapind is unreachable or its response is unreadable, 2 on a usage error.
int RunStatus(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// The same, for a main() that hands over its argv from the subcommand name on: argv[0] is
// "status".
int RunStatus(int argc, char** argv);

// GETs http://ADDRESS/status and parses the JSON. Errors name the address and what to check.
absl::StatusOr<nlohmann::json> FetchStatus(const std::string& address, absl::Duration timeout);

// The terminal map of a /status document; `now` sets the snapshot's age.
absl::StatusOr<std::string> StatusText(const nlohmann::json& status, absl::Time now);

}  // namespace numapin::ctl
