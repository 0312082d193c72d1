// file_recording(): a Recording of `spec` whose sink writes a pcap file, as the privileged tests
// record the real datapath's packets before comparing the file with tcpdump's. On failure the
// test fails with the reason and it returns nullptr (ASSERT_NE(recording, nullptr)).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <memory>

#include "dispatch/recording.h"
#include "sink/sink.h"

namespace recorder::testing {

inline std::shared_ptr<Recording> file_recording(sink::WriterPool& pool, uint64_t id,
                                                 const RecordingSpec& spec,
                                                 const std::filesystem::path& path) {
  sink::SinkOptions options;
  options.path = path;
  auto sink = sink::Sink::open(pool, options);
  if (!sink) {
    ADD_FAILURE() << "open the sink of " << path << ": " << sink.error().message();
    return nullptr;
  }
  return std::make_shared<Recording>(id, spec, std::move(*sink));
}

}  // namespace recorder::testing
