// How the scheduler monitor fails to start where it cannot run, on the real kernel: without the
// capabilities BPF needs, and on a kernel without BTF. Each case runs in a forked child, so what
// it takes away never reaches this process or the host. The child drops capabilities from its
// own sets only, and hides BTF under a tmpfs in a mount namespace of its own.
#include <linux/capability.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bpf/monitor.h"
#include "gtest/gtest.h"

namespace numapin::bpf {
namespace {

// What the child saw: the status code and message of Monitor::Start, or why it could not try.
struct ChildResult {
  bool ran = false;
  absl::StatusCode code = absl::StatusCode::kUnknown;
  std::string message;
};

// Runs `prepare` and then Monitor::Start in a forked child and reads back the result through a
// pipe. `prepare` returns an empty string on success, or what went wrong.
ChildResult StartInChild(const std::function<std::string()>& prepare) {
  int fds[2];
  if (pipe(fds) != 0) return {false, absl::StatusCode::kUnknown, strerror(errno)};
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::string out;
    std::string failed = prepare();
    if (!failed.empty()) {
      out = absl::StrCat("-\n", failed);
    } else {
      auto monitor = Monitor::Start(MonitorOptions{});
      absl::Status status = monitor.ok() ? absl::OkStatus() : monitor.status();
      out = absl::StrCat(static_cast<int>(status.code()), "\n", status.message());
    }
    ssize_t ignored = write(fds[1], out.data(), out.size());
    (void)ignored;
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buffer[4096];
  ssize_t count;
  while ((count = read(fds[0], buffer, sizeof(buffer))) > 0) out.append(buffer, count);
  close(fds[0]);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);

  ChildResult result;
  size_t newline = out.find('\n');
  if (newline == std::string::npos) {
    result.message = absl::StrCat("the child wrote no result: '", out, "'");
    return result;
  }
  result.message = out.substr(newline + 1);
  if (out.substr(0, newline) == "-") return result;
  result.ran = true;
  result.code = static_cast<absl::StatusCode>(std::stoi(out.substr(0, newline)));
  return result;
}

// Clears the capabilities in `drop` from this process's effective and permitted sets.
std::string DropCapabilities(std::initializer_list<int> drop) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &header, data) != 0) return absl::StrCat("capget: ", strerror(errno));
  for (int cap : drop) {
    data[cap / 32].effective &= ~(1u << (cap % 32));
    data[cap / 32].permitted &= ~(1u << (cap % 32));
  }
  if (syscall(SYS_capset, &header, data) != 0) return absl::StrCat("capset: ", strerror(errno));
  return "";
}

class LoadFailureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "these tests need root, to take its rights away";
  }
};

TEST_F(LoadFailureTest, WithoutBpfCapabilitiesNamesThem) {
  // CAP_SYS_ADMIN goes too: it implies both on the kernels that have CAP_BPF and CAP_PERFMON.
  ChildResult result = StartInChild(
      [] { return DropCapabilities({CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN}); });
  ASSERT_TRUE(result.ran) << result.message;
  EXPECT_EQ(result.code, absl::StatusCode::kPermissionDenied) << result.message;
  EXPECT_NE(result.message.find("EPERM"), std::string::npos) << result.message;
  EXPECT_NE(result.message.find("CAP_BPF"), std::string::npos) << result.message;
  EXPECT_NE(result.message.find("CAP_PERFMON"), std::string::npos) << result.message;
}

TEST_F(LoadFailureTest, WithoutKernelBtfNamesTheFix) {
  ChildResult result = StartInChild([]() -> std::string {
    if (unshare(CLONE_NEWNS) != 0) return absl::StrCat("unshare: ", strerror(errno));
    // Private first, so that the tmpfs below is never propagated to the host's mounts.
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      return absl::StrCat("making / private: ", strerror(errno));
    }
    if (mount("none", "/sys/kernel/btf", "tmpfs", 0, nullptr) != 0) {
      return absl::StrCat("tmpfs over /sys/kernel/btf: ", strerror(errno));
    }
    return "";
  });
  ASSERT_TRUE(result.ran) << result.message;
  EXPECT_EQ(result.code, absl::StatusCode::kFailedPrecondition) << result.message;
  EXPECT_NE(result.message.find("has no BTF at /sys/kernel/btf/vmlinux"), std::string::npos)
      << result.message;
  EXPECT_NE(result.message.find("CONFIG_DEBUG_INFO_BTF=y"), std::string::npos) << result.message;
}

}  // namespace
}  // namespace numapin::bpf
