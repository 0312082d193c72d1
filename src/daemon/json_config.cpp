#include "daemon/json_config.h"

#include <nlohmann/json.hpp>

namespace recorder::daemon {
using json = nlohmann::json;

namespace {
std::string scalar(const json& value, const std::string& key) {
  // An object (a ring of "rings") travels as its JSON text; its option parses it.
  if (value.is_object()) return value.dump();
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_number()) return value.dump();
  throw CLI::ConversionError("config key \"" + key + "\": expected a string, number, boolean, " +
                             "object or array of those");
}
}  // namespace

std::string JsonConfig::to_config(const CLI::App* app, bool default_also, bool, std::string) const {
  json j = json::object();
  for (const CLI::Option* opt : app->get_options({})) {
    if (opt->get_lnames().empty() || !opt->get_configurable()) continue;
    const std::string& name = opt->get_lnames()[0];
    if (opt->count() > 0) {
      auto results = opt->results();
      if (results.size() == 1) {
        j[name] = results[0];
      } else {
        j[name] = results;
      }
    } else if (default_also && !opt->get_default_str().empty()) {
      j[name] = opt->get_default_str();
    }
  }
  return j.dump(2) + "\n";
}

std::vector<CLI::ConfigItem> JsonConfig::from_config(std::istream& input) const {
  json j;
  try {
    j = json::parse(input);
  } catch (const json::exception& e) {
    throw CLI::ParseError(std::string("config file is not valid JSON: ") + e.what(),
                          CLI::ExitCodes::ConversionError);
  }
  if (!j.is_object()) {
    throw CLI::ParseError("config file: the top level must be a JSON object",
                          CLI::ExitCodes::ConversionError);
  }
  std::vector<CLI::ConfigItem> result;
  for (const auto& [key, value] : j.items()) {
    CLI::ConfigItem item;
    item.name = key;
    for (char& c : item.name) {
      if (c == '_') c = '-';
    }
    if (item.name == "rings") item.name = "ring";  // the list of --ring flags
    if (value.is_array()) {
      for (const auto& v : value) item.inputs.push_back(scalar(v, key));
    } else {
      item.inputs.push_back(scalar(value, key));
    }
    result.push_back(std::move(item));
  }
  return result;
}

}  // namespace recorder::daemon
