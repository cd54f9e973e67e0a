// numapinctl: the operator's command-line tool. Each subcommand lives in its own file and gets the
// arguments after its name.
#include <iostream>
#include <string>
#include <vector>

#include "numapin_version.h"
#include "tools/numapinctl/commands.h"
#include "tools/numapinctl/status.h"

namespace {

constexpr char kUsage[] =
    "usage: numapinctl COMMAND [FLAGS]\n"
    "\n"
    "commands:\n"
    "  topology   print NUMA nodes, cores with SMT siblings, L3 caches, packages and distances\n"
    "  simulate   replay pod events (JSON lines) through the allocator and print each decision\n"
    "  status     print each NUMA node's CPUs with their owner, and recent violations\n"
    "  version    print numapinctl's version and the git revision it was built from\n"
    "\n"
    "Run numapinctl COMMAND --help for the flags of a command.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return numapin::ctl::kExitUsage;
  }
  std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);

  if (command == "topology") return numapin::ctl::RunTopology(args, std::cout, std::cerr);
  if (command == "simulate") return numapin::ctl::RunSimulate(args, std::cout, std::cerr);
  if (command == "status") return numapin::ctl::RunStatus(args, std::cout, std::cerr);
  if (command == "version" || command == "--version") {
    std::cout << "numapinctl " NUMAPIN_VERSION " (revision " NUMAPIN_REVISION ")\n";
    return numapin::ctl::kExitOk;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage;
    return numapin::ctl::kExitOk;
  }
  std::cerr << "numapinctl: unknown command \"" << command << "\"\n\n" << kUsage;
  return numapin::ctl::kExitUsage;
}
