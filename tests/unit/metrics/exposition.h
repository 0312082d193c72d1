// Reads Prometheus' text exposition format back into samples, for the metrics tests: what a
// scraper would see, parsed from the text rather than taken from the objects that made it.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace recorder::metrics::test {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> types;  // family name -> "counter", "gauge", ...
  std::vector<Sample> samples;

  // The value of the one sample of `name` whose labels include `labels`; nullopt if none.
  std::optional<double> value(const std::string& name,
                              const std::map<std::string, std::string>& labels = {}) const {
    for (const auto& s : samples) {
      if (s.name != name) continue;
      bool all = true;
      for (const auto& [k, v] : labels) {
        auto it = s.labels.find(k);
        all = all && it != s.labels.end() && it->second == v;
      }
      if (all) return s.value;
    }
    return std::nullopt;
  }
  size_t count(const std::string& name) const {
    size_t n = 0;
    for (const auto& s : samples) n += s.name == name;
    return n;
  }
};

// Parses `text`; a line it cannot read makes the whole result empty (the test then fails on
// what is missing) and is reported in `error`.
inline Exposition parse_exposition(const std::string& text, std::string* error = nullptr) {
  Exposition out;
  std::istringstream in(text);
  std::string line;
  auto fail = [&](const std::string& why) {
    if (error) *error = why + ": " + line;
    return Exposition{};
  };
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream words(line.substr(7));
      std::string name, type;
      words >> name >> type;
      out.types[name] = type;
      continue;
    }
    if (line[0] == '#') continue;
    Sample s;
    size_t i = line.find_first_of("{ ");
    if (i == std::string::npos) return fail("no value");
    s.name = line.substr(0, i);
    if (line[i] == '{') {
      ++i;
      while (line[i] != '}') {
        const size_t eq = line.find("=\"", i);
        if (eq == std::string::npos) return fail("bad label");
        std::string key = line.substr(i, eq - i), value;
        size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\' && j + 1 < line.size()) ++j;
          value += line[j];
        }
        if (j >= line.size()) return fail("unterminated label value");
        s.labels[key] = value;
        i = j + 1;
        if (line[i] == ',') ++i;
      }
      ++i;
    }
    try {
      s.value = std::stod(line.substr(i));
    } catch (const std::exception&) {
      return fail("bad value");
    }
    out.samples.push_back(std::move(s));
  }
  return out;
}

inline Exposition scrape(const prometheus::Collectable& collectable, std::string* error = nullptr) {
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, collectable.Collect());
  return parse_exposition(text.str(), error);
}

}  // namespace recorder::metrics::test
