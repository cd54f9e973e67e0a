// JSON or YAML text as one nlohmann::json value, so that everything reading Kubernetes objects
// has one code path whichever form the input came in.
#pragma once

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace numapin {

// Parses `text` as JSON when it starts with '{' or '[' (after whitespace), else as YAML. YAML
// plain scalars become strings, except null, ~, an empty value (null) and true/false (booleans),
// so `cpu: 2` in YAML and "cpu": "2" in JSON give the same value. Errors name `source_name` (a file
// name or "pod") and the position the parser reports.
absl::StatusOr<nlohmann::json> ParseJsonOrYaml(absl::string_view text,
                                               absl::string_view source_name);

}  // namespace numapin
