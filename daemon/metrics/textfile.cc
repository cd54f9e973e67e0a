// TextfileWriter: atomic replace of DIR/numapin.prom with the rendered metrics.
#include "daemon/metrics/textfile.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "daemon/metrics/render.h"

namespace numapin {
namespace {

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(absl::StrCat(what, " ", path, ": ", std::strerror(errno),
                                             "; check that --textfile-dir exists and is writable"));
}

absl::Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("cannot write", path);
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

TextfileWriter::TextfileWriter(std::string dir, absl::Duration min_interval)
    : dir_(std::move(dir)),
      path_(absl::StrCat(dir_, "/numapin.prom")),
      min_interval_(min_interval) {}

absl::StatusOr<bool> TextfileWriter::MaybeWrite(const DaemonSnapshot& snapshot, absl::Time now) {
  if (now - last_write_ < min_interval_) return false;
  last_write_ = now;
  absl::Status status = Write(snapshot);
  if (!status.ok()) return status;
  return true;
}

absl::Status TextfileWriter::Write(const DaemonSnapshot& snapshot) {
  const std::string text = RenderMetrics(snapshot);

  // The collector reads only *.prom files, so the dot-prefixed temporary is never collected.
  std::string temp = absl::StrCat(dir_, "/.numapin.prom.XXXXXX");
  int fd = mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot create temporary file in", dir_);

  absl::Status status = WriteAll(fd, text, temp);
  // mkostemp creates mode 0600; node-exporter often runs as another user.
  if (status.ok() && fchmod(fd, 0644) != 0) status = ErrnoError("cannot chmod", temp);
  if (close(fd) != 0 && status.ok()) status = ErrnoError("cannot close", temp);
  if (status.ok() && rename(temp.c_str(), path_.c_str()) != 0) {
    status = ErrnoError("cannot rename temporary file to", path_);
  }
  if (!status.ok()) unlink(temp.c_str());
  return status;
}

}  // namespace numapin
