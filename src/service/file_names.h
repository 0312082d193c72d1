// Recording file names inside the storage directory, and the path confinement every file access
// by the service goes through.
//
// Names are made and parsed by sink/file_naming.h:
// "<prefix>_<YYYYMMDDTHHMMSSZ>_<id>_<node>.pcap[ng]". The service only ever opens, serves or
// deletes a file it found by recording id, and only after confine_to_storage() checked that it is a
// regular file directly inside the storage directory.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "sink/file_naming.h"
#include "sink/sink.h"

namespace recorder::service {

// `name` resolved inside `storage` (canonical): NOT_FOUND when it does not exist,
// INVALID_ARGUMENT when it is not a plain name or resolves (symlinks included) outside the
// storage directory or to something other than a regular file.
Result<std::filesystem::path> confine_to_storage(const std::filesystem::path& storage,
                                                 std::string_view name);

}  // namespace recorder::service
