// Tcpdump: runs `tcpdump -i <dev> -w <file> <filter>` as the reference capture for the veth
// tests, started and stopped (SIGINT, which flushes the file) by the test; killed in the
// destructor if still running. With `netns` (a name under /run/netns) it captures on `dev` inside
// that namespace.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "listening_process.h"

namespace recorder::testing {

class Tcpdump {
 public:
  Tcpdump(const std::string& dev, const std::string& file, const std::string& filter,
          const std::string& log, const std::string& netns = {})
      : process_(command(dev, file, filter, netns), log) {}
  bool ready() const { return process_.ready(); }
  // After stop(): tcpdump's own summary ("N packets received by filter", "... dropped by
  // kernel"), -1 when absent.
  long summary(const std::string& what) const {
    std::istringstream in(process_.output());
    std::string line;
    while (std::getline(in, line)) {
      const auto at = line.find(what);
      if (at != std::string::npos) return std::stol(line.substr(0, at));
    }
    return -1;
  }
  void stop() { process_.stop(); }

 private:
  static std::vector<std::string> command(const std::string& dev, const std::string& file,
                                          const std::string& filter, const std::string& netns) {
    std::vector<std::string> args;
    if (!netns.empty()) args = {"nsenter", "--net=/run/netns/" + netns};
    args.insert(args.end(), {"tcpdump", "-i", dev, "-w", file, "-U", "-s", "262144", "-nn", "-Z",
                             "root", "--immediate-mode", "-B", "65536", filter});
    return args;
  }
  ListeningProcess process_;
};

}  // namespace recorder::testing
