// Classifier: which of up to RECORDER_MAX_RULES filters a packet matches, in a few lookups.
//
// The same decomposition as the kernel rule table (bpf/recorder): one lookup per dimension
// (protocol, source address, destination address, source port, destination port), each giving
// the mask of rules that accept the packet's value in that dimension; the packet's rule mask is
// the AND of the five. Addresses use longest-prefix match over the distinct prefixes present.
// Its answer must equal matches() for every rule; tests check that on random packets and rules.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "dispatch/filter.h"
#include "dispatch/packet.h"
#include "dispatch/packet_info.h"

namespace recorder {

struct ClassifierRule {
  uint16_t slot;
  Filter filter;
};

class Classifier {
 public:
  Classifier() = default;
  explicit Classifier(std::span<const ClassifierRule> rules);

  // Never allocates or throws.
  RuleMask classify(const PacketInfo& packet) const noexcept;

 private:
  // See classifier.cpp.
  struct Tables;
  std::shared_ptr<const Tables> tables_;
};

}  // namespace recorder
