// NodeAllocator::AddPod: admission, then allocation. Kept apart from allocator.cc so that code
// using only AddRequest links without admission.
#include "policy/admission.h"
#include "policy/allocator.h"

namespace numapin {

std::vector<ContainerDecision> NodeAllocator::AddPod(const Pod& pod) {
  if (auto it = pods_.find(pod.uid); it != pods_.end()) return it->second.decisions;
  return AddRequest(Admit(pod, *topology_));
}

}  // namespace numapin
