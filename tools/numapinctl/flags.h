// A small command-line parser for numapinctl's subcommands: each subcommand declares its own
// flags, so `numapinctl simulate --help` lists only the flags simulate takes.
#pragma once

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace numapin::ctl {

struct FlagSpec {
  std::string name;  // Without the leading "--".
  bool boolean = false;
  std::string default_value;
  std::string help;  // One line: what the flag sets, and in what unit or format.
};

struct ParsedArgs {
  std::map<std::string, std::string> values;  // Every declared flag, defaults filled in.
  std::vector<std::string> positional;
  bool help = false;  // --help or -h was given.

  const std::string& Get(const std::string& name) const { return values.at(name); }
  bool GetBool(const std::string& name) const { return values.at(name) == "true"; }
};

// Accepts --name=value and --name value; boolean flags as --name, --name=true or --name=false;
// "--" ends the flags. Rejects unknown flags and missing values, listing the declared flags.
absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args,
                                     const std::vector<FlagSpec>& specs);

// Prints one line per flag with its default, under a usage line.
void PrintUsage(std::ostream& out, const std::string& usage, const std::vector<FlagSpec>& specs);

}  // namespace numapin::ctl
