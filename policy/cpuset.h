// CpuSet: a set of CPU (or NUMA node) OS indexes, parsed from and printed in the kernel's list
// format ("0-3,8,10-11"), as cgroup cpuset files and sysfs cpulists use it.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace numapin {

class CpuSet {
 public:
  // The largest id Parse accepts. Linux's NR_CPUS tops out at 8192 on x86-64; the margin keeps a
  // typo like "0-4000000000" from allocating gigabytes.
  static constexpr int kMaxId = 65535;

  CpuSet() = default;
  CpuSet(std::initializer_list<int> ids);
  static CpuSet Range(int first, int last);  // Inclusive.
  static CpuSet FromVector(const std::vector<int>& ids);

  // Parses the kernel list format. Empty or all-whitespace text is the empty set, as in a fresh
  // cgroup's cpuset.cpus. Rejects anything else that is not "N" or "N-M" items joined by commas.
  static absl::StatusOr<CpuSet> Parse(absl::string_view text);

  // Prints the kernel list format with ranges folded ("0-3,8"); the empty set prints "".
  std::string ToString() const;

  bool Contains(int id) const;
  void Add(int id);
  void Remove(int id);
  void Clear() { words_.clear(); }

  bool Empty() const { return words_.empty(); }
  int Size() const;
  int First() const;  // -1 when empty.
  std::vector<int> ToVector() const;

  bool IsSubsetOf(const CpuSet& other) const;
  bool Intersects(const CpuSet& other) const;

  CpuSet Union(const CpuSet& other) const;
  CpuSet Intersection(const CpuSet& other) const;
  CpuSet Difference(const CpuSet& other) const;

  CpuSet& operator|=(const CpuSet& other);
  CpuSet& operator&=(const CpuSet& other);
  CpuSet& operator-=(const CpuSet& other);

  bool operator==(const CpuSet& other) const { return words_ == other.words_; }
  bool operator<(const CpuSet& other) const;  // A total order, for sorting and map keys.

  template <typename H>
  friend H AbslHashValue(H h, const CpuSet& set) {
    return H::combine(std::move(h), set.words_);
  }

  // Calls fn(id) for each member in increasing order.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (size_t w = 0; w < words_.size(); ++w) {
      uint64_t bits = words_[w];
      while (bits != 0) {
        int bit = __builtin_ctzll(bits);
        fn(static_cast<int>(w * 64 + bit));
        bits &= bits - 1;
      }
    }
  }

 private:
  void Trim();  // Drops trailing zero words so that equal sets compare equal.

  std::vector<uint64_t> words_;
};

}  // namespace numapin
