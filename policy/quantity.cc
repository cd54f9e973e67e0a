// Kubernetes resource quantities ("2", "500m", "1.5", "1Gi", "1e9") converted exactly to integer
// millicores and bytes. The grammar is the one of k8s.io/apimachinery/pkg/api/resource:
//   quantity := [sign] number [suffix]
//   number   := digits | digits "." digits | digits "." | "." digits
//   suffix   := binarySI (Ki Mi Gi Ti Pi Ei) | decimalSI (n u m "" k M G T P E)
//             | ("e" | "E") [sign] digits
#include <cstdint>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "policy/pod.h"

namespace numapin {
namespace {

// A quantity as mantissa * 10^exponent10 * 2^exponent2, with the mantissa's digits kept as text
// so that no precision is lost before the final conversion.
struct Decomposed {
  bool negative = false;
  std::string digits;  // Significant digits, no leading or trailing zeros; "" for zero.
  int exponent10 = 0;
  int exponent2 = 0;
};

// Exponents beyond this cannot give a value that fits in int64 (or a nonzero fraction that
// matters), so they are rejected instead of looping.
constexpr int kMaxExponent = 100;

bool ParseSuffix(absl::string_view suffix, Decomposed& out) {
  struct Unit {
    const char* name;
    int exponent10;
    int exponent2;
  };
  static constexpr Unit kUnits[] = {
      {"", 0, 0},    {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"k", 3, 0},   {"M", 6, 0},
      {"G", 9, 0},   {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},  {"Ki", 0, 10}, {"Mi", 0, 20},
      {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
  };
  for (const Unit& unit : kUnits) {
    if (suffix == unit.name) {
      out.exponent10 += unit.exponent10;
      out.exponent2 += unit.exponent2;
      return true;
    }
  }

  // A decimal exponent: "e9", "E-3", "e+2".
  if (suffix.size() < 2 || (suffix[0] != 'e' && suffix[0] != 'E')) return false;
  absl::string_view rest = suffix.substr(1);
  bool negative = false;
  if (rest[0] == '+' || rest[0] == '-') {
    negative = rest[0] == '-';
    rest.remove_prefix(1);
  }
  if (rest.empty() || rest.size() > 3) return false;
  int exponent = 0;
  for (char c : rest) {
    if (!absl::ascii_isdigit(c)) return false;
    exponent = exponent * 10 + (c - '0');
  }
  out.exponent10 += negative ? -exponent : exponent;
  return true;
}

// Splits the text into sign, number and suffix. False when it does not follow the grammar.
bool Decompose(absl::string_view text, Decomposed& out) {
  size_t pos = 0;
  if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    out.negative = text[pos] == '-';
    ++pos;
  }
  size_t integer_start = pos;
  while (pos < text.size() && absl::ascii_isdigit(text[pos])) ++pos;
  absl::string_view integer = text.substr(integer_start, pos - integer_start);
  absl::string_view fraction;
  if (pos < text.size() && text[pos] == '.') {
    size_t fraction_start = ++pos;
    while (pos < text.size() && absl::ascii_isdigit(text[pos])) ++pos;
    fraction = text.substr(fraction_start, pos - fraction_start);
  }
  if (integer.empty() && fraction.empty()) return false;
  if (!ParseSuffix(text.substr(pos), out)) return false;

  std::string digits = absl::StrCat(integer, fraction);
  out.exponent10 -= static_cast<int>(fraction.size());
  size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) {
    out.digits.clear();
    return true;
  }
  size_t last = digits.find_last_not_of('0');
  out.exponent10 += static_cast<int>(digits.size() - 1 - last);
  out.digits = digits.substr(first, last - first + 1);
  return true;
}

enum class Rounding { kReject, kUp };

struct Conversion {
  int64_t value = 0;
  bool fractional = false;  // Only with Rounding::kReject: the value is not a whole unit.
  bool overflow = false;
};

// Computes digits * 10^(exponent10 + scale10) * 2^exponent2 as int64.
Conversion Convert(const Decomposed& q, int scale10, Rounding rounding) {
  using Wide = unsigned __int128;
  constexpr Wide kMax = static_cast<Wide>(std::numeric_limits<int64_t>::max());
  Conversion result;
  if (q.digits.empty()) return result;

  // 19 significant digits fit in 64 bits; with at most 2^60 the product fits in 128 bits.
  if (q.digits.size() > 19) {
    result.overflow = true;
    return result;
  }
  Wide value = 0;
  for (char c : q.digits) value = value * 10 + static_cast<Wide>(c - '0');
  value <<= q.exponent2;

  int exponent = q.exponent10 + scale10;
  if (exponent > kMaxExponent || exponent < -kMaxExponent) {
    result.overflow = exponent > 0;
    result.fractional = exponent < 0;
    if (exponent < 0 && rounding == Rounding::kUp) result = Conversion{1, false, false};
    return result;
  }
  for (; exponent > 0; --exponent) {
    value *= 10;
    if (value > kMax) {
      result.overflow = true;
      return result;
    }
  }
  bool remainder = false;
  for (; exponent < 0; ++exponent) {
    remainder = remainder || value % 10 != 0;
    value /= 10;
  }
  if (remainder) {
    if (rounding == Rounding::kReject) {
      result.fractional = true;
      return result;
    }
    ++value;
  }
  if (value > kMax) {
    result.overflow = true;
    return result;
  }
  result.value = static_cast<int64_t>(value);
  return result;
}

absl::Status Invalid(absl::string_view quantity, absl::string_view kind,
                     absl::string_view examples) {
  return absl::InvalidArgumentError(absl::StrCat("\"", quantity, "\" is not a valid ", kind,
                                                 " quantity; expected a number with an optional "
                                                 "suffix such as ",
                                                 examples));
}

}  // namespace

absl::StatusOr<int64_t> ParseCpuMillis(absl::string_view quantity) {
  constexpr absl::string_view kExamples = "\"2\", \"500m\" or \"1.5\"";
  Decomposed q;
  if (!Decompose(quantity, q)) return Invalid(quantity, "CPU", kExamples);
  if (q.negative && !q.digits.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("CPU quantity \"", quantity, "\" is negative; expected 0 or more"));
  }

  Conversion millis = Convert(q, 3, Rounding::kReject);
  if (millis.fractional) {
    return absl::InvalidArgumentError(
        absl::StrCat("CPU quantity \"", quantity,
                     "\" is finer than 1m (one millicore); round it to whole millicores"));
  }
  if (millis.overflow) {
    return absl::InvalidArgumentError(
        absl::StrCat("CPU quantity \"", quantity, "\" is too large to represent in millicores"));
  }
  return millis.value;
}

absl::StatusOr<int64_t> ParseMemoryBytes(absl::string_view quantity) {
  constexpr absl::string_view kExamples = "\"512Mi\", \"1Gi\", \"1G\" or \"128974848\"";
  Decomposed q;
  if (!Decompose(quantity, q)) return Invalid(quantity, "memory", kExamples);
  if (q.negative && !q.digits.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory quantity \"", quantity, "\" is negative; expected 0 or more"));
  }

  // The kubelet rounds a fraction of a byte ("100m" of memory) up to the next byte.
  Conversion bytes = Convert(q, 0, Rounding::kUp);
  if (bytes.overflow) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory quantity \"", quantity, "\" is too large to represent in bytes"));
  }
  return bytes.value;
}

}  // namespace numapin
