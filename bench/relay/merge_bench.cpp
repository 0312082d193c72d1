// merge_bench: the relay's merge (relay/merge.h, the code recorder-relay runs at a stop) alone,
// on nodes' pcapng files that already exist.
//
//   merge_bench OUTPUT NODE_FILE...
//
// Merges the files into OUTPUT (pcapng) and prints "SECONDS PACKETS INPUT_BYTES OUTPUT_BYTES":
// the wall time of merge_captures, the packets merged, the summed size of the inputs and the size
// of the merged file. Exits 1 (with the reason) when a node's file could not be merged whole.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "relay/merge.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: merge_bench OUTPUT NODE_FILE...\n");
    return 2;
  }
  std::vector<recorder::relay::MergeInput> inputs;
  uint64_t input_bytes = 0;
  for (int i = 2; i < argc; ++i) {
    inputs.push_back({"node-" + std::to_string(i - 2), "bench", argv[i]});
    std::error_code ec;
    input_bytes += std::filesystem::file_size(argv[i], ec);
    if (ec) {
      std::fprintf(stderr, "merge_bench: %s: %s\n", argv[i], ec.message().c_str());
      return 2;
    }
  }
  const auto start = std::chrono::steady_clock::now();
  auto merged = recorder::relay::merge_captures(inputs, argv[1],
                                                recorder::sink::FileFormat::kPcapng, "merge_bench");
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  if (!merged.ok()) {
    std::fprintf(stderr, "merge_bench: %s\n", merged.error().message().c_str());
    return 1;
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!merged->inputs[i].error.empty()) {
      std::fprintf(stderr, "merge_bench: %s: %s\n", argv[i + 2], merged->inputs[i].error.c_str());
      return 1;
    }
  }
  std::printf("%.6f %llu %llu %llu\n", took.count(),
              static_cast<unsigned long long>(merged->packets),
              static_cast<unsigned long long>(input_bytes),
              static_cast<unsigned long long>(std::filesystem::file_size(argv[1])));
  return 0;
}
