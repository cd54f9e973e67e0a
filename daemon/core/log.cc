// spdlog set-up and the klog-like text and JSON line bodies.
#include "daemon/core/log.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace numapin::log {
namespace {

Format g_format = Format::kText;

bool NeedsQuotes(absl::string_view value) {
  if (value.empty()) return true;
  for (char c : value) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      return true;
    }
  }
  return false;
}

std::string Quote(absl::string_view value) { return nlohmann::json(std::string(value)).dump(); }

void Emit(spdlog::level::level_enum level, absl::string_view message, Fields fields) {
  std::string body =
      g_format == Format::kJson ? FormatJson(message, fields) : FormatText(message, fields);
  spdlog::log(level, "{}", body);
}

}  // namespace

Field::Field(absl::string_view key, int64_t value) : key(key), value(absl::StrCat(value)) {}

void Init(Format format) {
  g_format = format;
  auto logger = std::make_shared<spdlog::logger>(
      "numapind", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (format == Format::kJson) {
    logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})",
                        spdlog::pattern_time_type::utc);
  } else {
    logger->set_pattern("%L%m%d %H:%M:%S.%f %P] %v", spdlog::pattern_time_type::utc);
  }
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

std::string FormatText(absl::string_view message, Fields fields) {
  std::string line = Quote(message);
  for (const Field& field : fields) {
    absl::StrAppend(&line, " ", field.key, "=",
                    NeedsQuotes(field.value) ? Quote(field.value) : field.value);
  }
  return line;
}

std::string FormatJson(absl::string_view message, Fields fields) {
  std::string line = absl::StrCat("\"msg\":", Quote(message));
  for (const Field& field : fields) {
    absl::StrAppend(&line, ",", Quote(field.key), ":", Quote(field.value));
  }
  return line;
}

void Info(absl::string_view message, Fields fields) { Emit(spdlog::level::info, message, fields); }
void Warning(absl::string_view message, Fields fields) {
  Emit(spdlog::level::warn, message, fields);
}
void Error(absl::string_view message, Fields fields) { Emit(spdlog::level::err, message, fields); }

bool RateLimiter::Allow(const std::string& key, absl::Time now, uint64_t* suppressed) {
  Entry& entry = entries_[key];
  if (now - entry.last < interval_) {
    ++entry.suppressed;
    return false;
  }
  if (suppressed != nullptr) *suppressed = entry.suppressed;
  entry.suppressed = 0;
  entry.last = now;
  return true;
}

}  // namespace numapin::log
