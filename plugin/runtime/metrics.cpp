#include "runtime/metrics.hpp"

#include <sstream>
#include <stdexcept>

namespace rs1 {

MetricRegistry::Family& MetricRegistry::declare(const std::string& name, const std::string& help,
                                                const std::string& type) {
  for (const auto& f : families_) {
    if (f.name == name) throw std::logic_error("metric " + name + " declared twice");
  }
  families_.push_back(Family{name, help, type, {}, {}, {}});
  return families_.back();
}

Counter& MetricRegistry::counter(const std::string& name, const std::string& help) {
  Family& f = declare(name, help, "counter");
  f.series.push_back(&storage_.emplace_back(0));
  return *f.series.back();
}

Counter& MetricRegistry::gauge(const std::string& name, const std::string& help) {
  Family& f = declare(name, help, "gauge");
  f.series.push_back(&storage_.emplace_back(0));
  return *f.series.back();
}

std::vector<Counter*> MetricRegistry::counter_family(const std::string& name,
                                                     const std::string& help,
                                                     const std::string& label,
                                                     const std::vector<std::string>& values) {
  Family& f = declare(name, help, "counter");
  f.label = label;
  f.label_values = values;
  for (std::size_t i = 0; i < values.size(); ++i) f.series.push_back(&storage_.emplace_back(0));
  return f.series;
}

std::vector<Counter*> MetricRegistry::gauge_family(const std::string& name,
                                                   const std::string& help,
                                                   const std::string& label,
                                                   const std::vector<std::string>& values) {
  Family& f = declare(name, help, "gauge");
  f.label = label;
  f.label_values = values;
  for (std::size_t i = 0; i < values.size(); ++i) f.series.push_back(&storage_.emplace_back(0));
  return f.series;
}

std::string MetricRegistry::render() const {
  std::ostringstream out;
  for (const auto& f : families_) {
    out << "# HELP " << f.name << ' ' << f.help << "\n# TYPE " << f.name << ' ' << f.type << '\n';
    if (f.label_values.empty()) {
      out << f.name << ' ' << f.series.front()->load(std::memory_order_relaxed) << '\n';
      continue;
    }
    for (std::size_t i = 0; i < f.series.size(); ++i) {
      out << f.name << '{' << f.label << "=\"" << f.label_values[i] << "\"} "
          << f.series[i]->load(std::memory_order_relaxed) << '\n';
    }
  }
  return out.str();
}

std::uint64_t MetricRegistry::value(const std::string& name, const std::string& label_value) const {
  for (const auto& f : families_) {
    if (f.name != name) continue;
    if (f.label_values.empty()) return f.series.front()->load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < f.label_values.size(); ++i) {
      if (f.label_values[i] == label_value) return f.series[i]->load(std::memory_order_relaxed);
    }
  }
  throw std::out_of_range("no metric " + name + (label_value.empty() ? "" : "{" + label_value + "}"));
}

}  // namespace rs1
