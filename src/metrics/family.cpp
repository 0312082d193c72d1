#include "metrics/family.h"

namespace recorder::metrics {

prometheus::MetricFamily counter_family(std::string name, std::string help) {
  return {std::move(name), std::move(help), prometheus::MetricType::Counter, {}};
}

prometheus::MetricFamily gauge_family(std::string name, std::string help) {
  return {std::move(name), std::move(help), prometheus::MetricType::Gauge, {}};
}

void add_sample(prometheus::MetricFamily& family, double value,
                std::initializer_list<Label> labels) {
  prometheus::ClientMetric& m = family.metric.emplace_back();
  for (const auto& [name, text] : labels) m.label.push_back({name, text});
  if (family.type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
}

}  // namespace recorder::metrics
