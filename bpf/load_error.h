// Turns libbpf failures into absl::Status values that name the cause and the fix, with the
// tail of libbpf's log, which contains the verifier log of a rejected program.
#ifndef NUMAPIN_BPF_LOAD_ERROR_H_
#define NUMAPIN_BPF_LOAD_ERROR_H_

#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace numapin::bpf {

// Collects libbpf's messages while it lives. libbpf has one process-wide print callback, so
// captures serialize on a mutex and the previous callback is restored at the end.
class LibbpfLogCapture {
 public:
  LibbpfLogCapture();
  ~LibbpfLogCapture();
  LibbpfLogCapture(const LibbpfLogCapture&) = delete;
  LibbpfLogCapture& operator=(const LibbpfLogCapture&) = delete;

  // The last max_lines lines captured so far.
  std::string Tail(int max_lines) const;

 private:
  std::unique_lock<std::mutex> lock_;
  void* previous_;
};

// Checks what every monitor program needs from the kernel: BTF and the BPF ring buffer.
absl::Status CheckKernelSupport();

// Maps a negative libbpf error from `step` (e.g. "load") to a status with what to do.
absl::Status LoadFailure(int error, absl::string_view step, const std::string& log_tail);

}  // namespace numapin::bpf

#endif  // NUMAPIN_BPF_LOAD_ERROR_H_
