// CRC32C (Castagnoli, the polynomial of iSCSI and ext4 metadata), used to tell a torn or edited
// checkpoint from a valid one. Table-driven; the checkpoint is small, so speed does not matter.
#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"

namespace numapin {

uint32_t Crc32c(absl::string_view data);

}  // namespace numapin
