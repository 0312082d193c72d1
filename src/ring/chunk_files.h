// Chunk file names of a ring: "chunk-<seq>.<ext>" (seq: 12 decimal digits, so names sort in
// the order they were written) and the chunk's index beside it, "chunk-<seq>.idx". While a chunk
// is written it is the sink's hidden partial file (".chunk-<seq>.<ext>.partial").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sink/sink.h"

namespace recorder::ring {

std::string chunk_file_name(uint64_t seq, sink::FileFormat format);
std::string index_file_name(uint64_t seq);

struct ChunkFileName {
  uint64_t seq = 0;
  sink::FileFormat format = sink::FileFormat::kPcap;
};

// Parses a name chunk_file_name() made; nullopt for anything else (partial files included).
std::optional<ChunkFileName> parse_chunk_file_name(std::string_view name);

}  // namespace recorder::ring
