// Captures libbpf's log and maps load failures to statuses that name the cause and the fix.
#include "bpf/load_error.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace numapin::bpf {
namespace {

constexpr char kKernelBtf[] = "/sys/kernel/btf/vmlinux";

std::mutex capture_mutex;
std::string* captured = nullptr;  // guarded by capture_mutex

int CapturePrint(enum libbpf_print_level level, const char* format, va_list args) {
  if (captured == nullptr || level == LIBBPF_DEBUG) return 0;
  // The verifier log arrives as one message of up to megabytes, so size it first.
  va_list copy;
  va_copy(copy, args);
  int length = vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (length <= 0) return length;
  size_t start = captured->size();
  captured->resize(start + length + 1);
  vsnprintf(captured->data() + start, length + 1, format, args);
  captured->resize(start + length);
  return length;
}

std::string KernelRelease() {
  utsname name{};
  if (uname(&name) != 0) return "unknown";
  return name.release;
}

}  // namespace

LibbpfLogCapture::LibbpfLogCapture() : lock_(capture_mutex) {
  captured = new std::string();
  previous_ = reinterpret_cast<void*>(libbpf_set_print(CapturePrint));
}

LibbpfLogCapture::~LibbpfLogCapture() {
  libbpf_set_print(reinterpret_cast<libbpf_print_fn_t>(previous_));
  delete captured;
  captured = nullptr;
}

std::string LibbpfLogCapture::Tail(int max_lines) const {
  std::vector<absl::string_view> lines = absl::StrSplit(*captured, '\n', absl::SkipEmpty());
  if (lines.size() > static_cast<size_t>(max_lines)) {
    lines.erase(lines.begin(), lines.end() - max_lines);
  }
  return absl::StrJoin(lines, "\n");
}

absl::Status CheckKernelSupport() {
  if (!std::filesystem::exists(kKernelBtf)) {
    return absl::FailedPreconditionError(
        absl::StrCat("kernel ", KernelRelease(), " has no BTF at ", kKernelBtf,
                     ", which the scheduler monitor needs for CO-RE; boot a kernel built with "
                     "CONFIG_DEBUG_INFO_BTF=y"));
  }
  // Created by hand rather than with libbpf_probe_bpf_map_type, which reads a refusal for want
  // of capabilities (EPERM) as "not supported" and would send the operator to upgrade the kernel.
  int ringbuf = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "numapin_probe", 0, 0,
                               static_cast<__u32>(sysconf(_SC_PAGESIZE)), nullptr);
  if (ringbuf >= 0) {
    close(ringbuf);
  } else if (errno == EPERM) {
    return LoadFailure(EPERM, "create a BPF ring buffer", "");
  } else if (errno == EINVAL) {
    return absl::FailedPreconditionError(absl::StrCat(
        "kernel ", KernelRelease(),
        " lacks the BPF ring buffer that the scheduler monitor needs; upgrade to Linux 5.8 or "
        "later"));
  } else {
    return LoadFailure(errno, "create a BPF ring buffer", "");
  }
  return absl::OkStatus();
}

absl::Status LoadFailure(int error, absl::string_view step, const std::string& log_tail) {
  int code = error < 0 ? -error : error;
  std::string what = absl::StrCat("scheduler monitor: failed to ", step, ": ", strerror(code));
  if (code == EPERM) {
    return absl::PermissionDeniedError(absl::StrCat(
        what, " (EPERM); run as root or grant CAP_BPF and CAP_PERFMON, and on a kernel "
                 "before 5.11 (this one is ", KernelRelease(), ") also CAP_SYS_RESOURCE"));
  }
  if (code == EACCES || code == EINVAL) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, "; the kernel ", KernelRelease(),
        " rejected the programs, most likely in the verifier. libbpf log tail:\n", log_tail));
  }
  if (code == ESRCH || code == ENOENT || code == EOPNOTSUPP || code == ENOTSUP) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, "; kernel ", KernelRelease(),
        " lacks a type, tracepoint or feature the programs need. libbpf log tail:\n", log_tail));
  }
  return absl::InternalError(absl::StrCat(what, ". libbpf log tail:\n", log_tail));
}

}  // namespace numapin::bpf
