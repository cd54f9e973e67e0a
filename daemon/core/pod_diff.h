// DiffPodSpecs: what changed in a running pod's manifest between two reads of the pod source,
// limited to what exclusive CPUs depend on (containers, their resources, the NUMA annotations).
#pragma once

#include <string>
#include <vector>

#include "policy/pod.h"

namespace numapin {

struct PodSpecChange {
  std::vector<std::string> added;        // Containers that newly appear, by name.
  std::vector<std::string> removed;      // Containers no longer in the spec.
  std::vector<std::string> resized;      // Containers whose CPU or memory quantities changed.
  std::vector<std::string> annotations;  // NUMA annotations whose value changed.

  bool Empty() const {
    return added.empty() && removed.empty() && resized.empty() && annotations.empty();
  }
};

// Compares the spec of one pod (same uid) as read before and after. Init containers are named
// "init:NAME" so that they never match an app container of the same name.
PodSpecChange DiffPodSpecs(const Pod& before, const Pod& after);

}  // namespace numapin
