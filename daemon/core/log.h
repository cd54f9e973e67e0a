// Structured logging for numapind on top of spdlog: a constant message plus key=value fields,
// printed klog-style (`I1204 15:12:00.528123 4242] "Assigned exclusive CPUs" pod="ns/web"`) or
// as one JSON object per line, and a limiter for messages that would otherwise repeat every tick.
#pragma once

#include <initializer_list>
#include <map>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace numapin::log {

enum class Format { kText, kJson };

// Sends every line to stderr in the given format. Call once, before the first line.
void Init(Format format);

struct Field {
  Field(absl::string_view key, absl::string_view value) : key(key), value(value) {}
  Field(absl::string_view key, const std::string& value) : key(key), value(value) {}
  Field(absl::string_view key, const char* value) : key(key), value(value) {}
  Field(absl::string_view key, int64_t value);
  Field(absl::string_view key, int value) : Field(key, static_cast<int64_t>(value)) {}
  Field(absl::string_view key, uint64_t value) : Field(key, static_cast<int64_t>(value)) {}
  Field(absl::string_view key, uint32_t value) : Field(key, static_cast<int64_t>(value)) {}
  Field(absl::string_view key, const absl::Status& status)
      : key(key), value(status.ToString()) {}
  std::string key;
  std::string value;
};
using Fields = std::initializer_list<Field>;

void Info(absl::string_view message, Fields fields = {});
void Warning(absl::string_view message, Fields fields = {});
void Error(absl::string_view message, Fields fields = {});

// Formats one line's body without timestamp and level; exposed for tests.
std::string FormatText(absl::string_view message, Fields fields);
std::string FormatJson(absl::string_view message, Fields fields);

// Lets a line through once per `interval` per key (message plus the ids it is about) and counts
// what it held back, so that a drift repeating every second logs once, with the count.
class RateLimiter {
 public:
  explicit RateLimiter(absl::Duration interval = absl::Seconds(30)) : interval_(interval) {}

  // True when the line may be logged now; `suppressed` receives how many were held back since the
  // last line of this key.
  bool Allow(const std::string& key, absl::Time now, uint64_t* suppressed);

 private:
  struct Entry {
    absl::Time last = absl::InfinitePast();
    uint64_t suppressed = 0;
  };
  absl::Duration interval_;
  std::map<std::string, Entry> entries_;
};

}  // namespace numapin::log
