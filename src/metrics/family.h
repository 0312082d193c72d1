// Building Prometheus metric families at scrape time, for Collectables that read a binary's state
// (prometheus::Collectable::Collect). Keeps the exposition's conventions in one place: counters
// end in _total, values in base units (bytes, seconds), label names and values as given.
#pragma once

#include <prometheus/metric_family.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

namespace recorder::metrics {

using Label = std::pair<std::string, std::string>;

prometheus::MetricFamily counter_family(std::string name, std::string help);
prometheus::MetricFamily gauge_family(std::string name, std::string help);

// Adds one sample (a series: the family's type decides counter or gauge).
void add_sample(prometheus::MetricFamily& family, double value,
                std::initializer_list<Label> labels = {});

}  // namespace recorder::metrics
