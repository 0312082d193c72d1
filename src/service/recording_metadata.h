// The metadata a finished recording leaves next to its file: a hidden ".<file>.json" holding
// what the file alone cannot tell (stop reason and message, losses, filters, stop conditions,
// times). This unit is the JSON format only; recording_store.h writes and reads the files.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "service/recording_info.h"

namespace recorder::service {

// The metadata file's name for the recording file `file_name`: ".<file_name>.json".
std::string metadata_file_name(std::string_view file_name);

// The JSON text of `info`'s final state.
std::string to_metadata_json(const RecordingInfo& info);

// Fills the persisted fields of `info` from metadata JSON; INVALID_ARGUMENT (naming the key)
// when the text is not valid metadata. The fields the file name tells (id, prefix, node, format,
// start time) are left as they are.
Status from_metadata_json(std::string_view text, RecordingInfo& info);

}  // namespace recorder::service
