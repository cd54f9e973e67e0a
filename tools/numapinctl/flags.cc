// The numapinctl flag parser.
#include "tools/numapinctl/flags.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace numapin::ctl {
namespace {

const FlagSpec* FindSpec(const std::vector<FlagSpec>& specs, const std::string& name) {
  for (const FlagSpec& spec : specs) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

std::string KnownFlags(const std::vector<FlagSpec>& specs) {
  std::vector<std::string> names;
  for (const FlagSpec& spec : specs) names.push_back("--" + spec.name);
  names.push_back("--help");
  return absl::StrJoin(names, ", ");
}

}  // namespace

absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args,
                                     const std::vector<FlagSpec>& specs) {
  ParsedArgs parsed;
  for (const FlagSpec& spec : specs) {
    parsed.values[spec.name] =
        spec.boolean && spec.default_value.empty() ? "false" : spec.default_value;
  }

  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      parsed.positional.insert(parsed.positional.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (arg == "--help" || arg == "-h") {
      parsed.help = true;
      continue;
    }
    if (arg.size() < 2 || arg[0] != '-' || arg == "-") {
      parsed.positional.push_back(arg);
      continue;
    }

    std::string body = arg.substr(arg[1] == '-' ? 2 : 1);
    size_t equals = body.find('=');
    std::string name = body.substr(0, equals);
    const FlagSpec* spec = FindSpec(specs, name);
    if (spec == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag \"", arg, "\"; known flags: ", KnownFlags(specs)));
    }

    std::string value;
    if (equals != std::string::npos) {
      value = body.substr(equals + 1);
    } else if (spec->boolean) {
      value = "true";
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --", name, " needs a value, as in --", name, "=VALUE"));
    }
    if (spec->boolean && value != "true" && value != "false") {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --", name, " takes true or false, not \"", value, "\""));
    }
    parsed.values[name] = value;
  }
  return parsed;
}

void PrintUsage(std::ostream& out, const std::string& usage, const std::vector<FlagSpec>& specs) {
  out << "usage: " << usage << "\n\nflags:\n";
  for (const FlagSpec& spec : specs) {
    std::string left = "  --" + spec.name + (spec.boolean ? "" : "=VALUE");
    out << left << std::string(left.size() < 30 ? 30 - left.size() : 1, ' ') << spec.help;
    if (!spec.default_value.empty()) out << " (default " << spec.default_value << ")";
    out << "\n";
  }
}

}  // namespace numapin::ctl
