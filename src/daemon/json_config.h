// JsonConfig: lets recorderd read `--config FILE` as JSON with the same keys as its long flags
// ("storage-path", "interfaces", "max-recordings", ...; '_' may be used for '-'), through
// CLI11's config interface, so a flag given on the command line overrides the file.
// Values: strings, numbers, booleans, or arrays (for list flags such as "interfaces"). An
// object is passed as its JSON text: "rings": [{...}, ...] gives one --ring flag per ring.
#pragma once

#include <CLI/CLI.hpp>

#include <istream>
#include <string>
#include <vector>

namespace recorder::daemon {

class JsonConfig : public CLI::Config {
 public:
  std::string to_config(const CLI::App* app, bool default_also, bool write_description,
                        std::string prefix) const override;
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;
};

}  // namespace recorder::daemon
