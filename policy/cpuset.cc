// CpuSet implementation: a bit vector of 64-bit words, trimmed so that equality is word equality.
#include "policy/cpuset.h"

#include <algorithm>
#include <charconv>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace numapin {
namespace {

absl::StatusOr<int> ParseId(absl::string_view item, absl::string_view whole) {
  int value = 0;
  const char* end = item.data() + item.size();
  auto [ptr, ec] = std::from_chars(item.data(), end, value);
  if (item.empty() || ec != std::errc() || ptr != end || value < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid CPU list \"", whole, "\": \"", item,
        "\" is not a non-negative integer; expected the kernel list format such as \"0-3,8\""));
  }
  if (value > CpuSet::kMaxId) {
    return absl::InvalidArgumentError(absl::StrCat("invalid CPU list \"", whole, "\": ", value,
                                                   " exceeds the maximum id ", CpuSet::kMaxId));
  }
  return value;
}

}  // namespace

CpuSet::CpuSet(std::initializer_list<int> ids) {
  for (int id : ids) Add(id);
}

CpuSet CpuSet::Range(int first, int last) {
  CpuSet set;
  for (int id = first; id <= last; ++id) set.Add(id);
  return set;
}

CpuSet CpuSet::FromVector(const std::vector<int>& ids) {
  CpuSet set;
  for (int id : ids) set.Add(id);
  return set;
}

absl::StatusOr<CpuSet> CpuSet::Parse(absl::string_view text) {
  CpuSet set;
  absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  if (trimmed.empty()) return set;

  for (absl::string_view item : absl::StrSplit(trimmed, ',')) {
    absl::string_view first_text = item;
    absl::string_view last_text = item;
    if (size_t dash = item.find('-'); dash != absl::string_view::npos) {
      first_text = item.substr(0, dash);
      last_text = item.substr(dash + 1);
    }
    absl::StatusOr<int> first = ParseId(first_text, text);
    if (!first.ok()) return first.status();
    absl::StatusOr<int> last = ParseId(last_text, text);
    if (!last.ok()) return last.status();
    if (*last < *first) {
      return absl::InvalidArgumentError(absl::StrCat("invalid CPU list \"", text, "\": range \"",
                                                     item, "\" ends before it starts"));
    }
    for (int id = *first; id <= *last; ++id) set.Add(id);
  }
  return set;
}

std::string CpuSet::ToString() const {
  std::string out;
  int run_start = -1;
  int previous = -2;
  auto flush = [&]() {
    if (run_start < 0) return;
    if (!out.empty()) out += ',';
    absl::StrAppend(&out, run_start);
    if (previous > run_start) absl::StrAppend(&out, "-", previous);
  };
  ForEach([&](int id) {
    if (id != previous + 1) {
      flush();
      run_start = id;
    }
    previous = id;
  });
  flush();
  return out;
}

bool CpuSet::Contains(int id) const {
  if (id < 0) return false;
  size_t word = static_cast<size_t>(id) / 64;
  return word < words_.size() && (words_[word] >> (id % 64)) & 1;
}

void CpuSet::Add(int id) {
  if (id < 0) return;
  size_t word = static_cast<size_t>(id) / 64;
  if (word >= words_.size()) words_.resize(word + 1, 0);
  words_[word] |= uint64_t{1} << (id % 64);
}

void CpuSet::Remove(int id) {
  if (!Contains(id)) return;
  words_[static_cast<size_t>(id) / 64] &= ~(uint64_t{1} << (id % 64));
  Trim();
}

int CpuSet::Size() const {
  int count = 0;
  for (uint64_t word : words_) count += __builtin_popcountll(word);
  return count;
}

int CpuSet::First() const {
  for (size_t w = 0; w < words_.size(); ++w) {
    if (words_[w] != 0) return static_cast<int>(w * 64 + __builtin_ctzll(words_[w]));
  }
  return -1;
}

std::vector<int> CpuSet::ToVector() const {
  std::vector<int> ids;
  ids.reserve(Size());
  ForEach([&](int id) { ids.push_back(id); });
  return ids;
}

bool CpuSet::IsSubsetOf(const CpuSet& other) const {
  for (size_t w = 0; w < words_.size(); ++w) {
    uint64_t theirs = w < other.words_.size() ? other.words_[w] : 0;
    if ((words_[w] & ~theirs) != 0) return false;
  }
  return true;
}

bool CpuSet::Intersects(const CpuSet& other) const {
  size_t n = std::min(words_.size(), other.words_.size());
  for (size_t w = 0; w < n; ++w) {
    if ((words_[w] & other.words_[w]) != 0) return true;
  }
  return false;
}

CpuSet CpuSet::Union(const CpuSet& other) const {
  CpuSet out = *this;
  out |= other;
  return out;
}

CpuSet CpuSet::Intersection(const CpuSet& other) const {
  CpuSet out = *this;
  out &= other;
  return out;
}

CpuSet CpuSet::Difference(const CpuSet& other) const {
  CpuSet out = *this;
  out -= other;
  return out;
}

CpuSet& CpuSet::operator|=(const CpuSet& other) {
  if (other.words_.size() > words_.size()) words_.resize(other.words_.size(), 0);
  for (size_t w = 0; w < other.words_.size(); ++w) words_[w] |= other.words_[w];
  return *this;
}

CpuSet& CpuSet::operator&=(const CpuSet& other) {
  if (words_.size() > other.words_.size()) words_.resize(other.words_.size());
  for (size_t w = 0; w < words_.size(); ++w) words_[w] &= other.words_[w];
  Trim();
  return *this;
}

CpuSet& CpuSet::operator-=(const CpuSet& other) {
  size_t n = std::min(words_.size(), other.words_.size());
  for (size_t w = 0; w < n; ++w) words_[w] &= ~other.words_[w];
  Trim();
  return *this;
}

bool CpuSet::operator<(const CpuSet& other) const {
  if (words_.size() != other.words_.size()) return words_.size() < other.words_.size();
  for (size_t w = words_.size(); w-- > 0;) {
    if (words_[w] != other.words_[w]) return words_[w] < other.words_[w];
  }
  return false;
}

void CpuSet::Trim() {
  while (!words_.empty() && words_.back() == 0) words_.pop_back();
}

}  // namespace numapin
