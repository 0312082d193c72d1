// merge_captures: the nodes' pcapng files merged into one file in capture-time order.
//
// A k-way merge: one PcapngReader per node (bounded memory each), a heap of their next packets
// ordered by (timestamp, node index, position in the file), so equal timestamps keep a stable
// order. Memory is O(nodes), never O(file).
//
// pcapng output: a section header whose shb_comment is `comment` (the filters and the nodes),
// then one interface description block per node and interface, named "<node>/<if_name>" with
// "node <node> (<address>), interface <if_name>" in if_description, keeping the link type, snap
// length and if_tsresol; then every enhanced packet block as the node wrote it (flags and options
// kept), its interface id renumbered; at the end each node's interface statistics blocks (their
// drop counts, isb_ifdrop), renumbered too.
// pcap output (nanosecond timestamps): only when every interface of every node has the same link
// type; otherwise INVALID_ARGUMENT naming the interfaces that differ (pcapng keeps them apart).
//
// A node whose file cannot be opened or read does not fail the merge: its result names the error
// and the merged file holds what was read of it before (for a read error) and the other nodes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/result.h"
#include "sink/sink.h"

namespace recorder::relay {

struct MergeInput {
  std::string node;     // the node's name
  std::string address;  // where the relay reached it
  std::filesystem::path path;
};

struct MergeInputResult {
  uint64_t packets = 0;  // of this node in the merged file
  std::string error;     // why (part of) the node's file is missing; empty: none
};

struct MergeResult {
  std::vector<MergeInputResult> inputs;  // one per input, same order
  uint64_t packets = 0;
  uint64_t bytes_captured = 0;  // captured bytes of those packets
};

// Merges `inputs` into `output` (created or truncated). An error only for the output itself (it
// cannot be written) or a pcap output over differing link types.
Result<MergeResult> merge_captures(const std::vector<MergeInput>& inputs,
                                   const std::filesystem::path& output, sink::FileFormat format,
                                   const std::string& comment);

}  // namespace recorder::relay
