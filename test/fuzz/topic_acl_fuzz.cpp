// Topic parsing and the ACL decisions of SPEC §5 (core/topic_rules)
// against a reference written from the spec's text the naive way: split
// the topic into levels and compare them. Input: a role byte, an access
// byte, the login name up to '\n', then the topic or filter.
#include <string>
#include <vector>

#include "core/topic_rules.hpp"
#include "fuzz_support.hpp"

namespace {

using rs1::Access;
using rs1::DeviceTopic;
using rs1::Role;

std::vector<std::string> levels_of(std::string_view topic) {
  std::vector<std::string> levels(1);
  for (char c : topic) {
    if (c == '/')
      levels.emplace_back();
    else
      levels.back() += c;
  }
  return levels;
}

std::string joined(const std::vector<std::string>& levels, std::size_t from) {
  std::string out;
  for (std::size_t i = from; i < levels.size(); ++i) out += (i > from ? "/" : "") + levels[i];
  return out;
}

bool reference_device_id(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

struct ReferenceTopic {
  std::string device;
  DeviceTopic kind;
};

// "opticworks/{id}/…" with one of SPEC §5's kinds; telemetry/<metric…>
// with any non-empty metric free of wildcards.
std::optional<ReferenceTopic> reference_parse(std::string_view topic) {
  const auto l = levels_of(topic);
  if (l.size() < 3 || l[0] != "opticworks" || !reference_device_id(l[1])) return std::nullopt;
  if (l[2] == "telemetry" && l.size() >= 4) {
    const std::string metric = joined(l, 3);
    if (metric.empty() || metric.find_first_of("+#") != std::string::npos) return std::nullopt;
    return ReferenceTopic{l[1], DeviceTopic::telemetry};
  }
  if (l.size() == 3 && l[2] == "state") return ReferenceTopic{l[1], DeviceTopic::state};
  if (l.size() != 4) return std::nullopt;
  const std::string tail = l[2] + "/" + l[3];
  if (tail == "ota/status") return ReferenceTopic{l[1], DeviceTopic::ota_status};
  if (tail == "config/status") return ReferenceTopic{l[1], DeviceTopic::config_status};
  if (tail == "ota/trigger") return ReferenceTopic{l[1], DeviceTopic::ota_trigger};
  if (tail == "config/update") return ReferenceTopic{l[1], DeviceTopic::config_update};
  if (tail == "diag/request") return ReferenceTopic{l[1], DeviceTopic::diag_request};
  return std::nullopt;
}

bool reference_uplink(DeviceTopic k) {
  return k == DeviceTopic::state || k == DeviceTopic::telemetry || k == DeviceTopic::ota_status ||
         k == DeviceTopic::config_status;
}

// "$share/<group>/<filter>": the filter; a group that is empty or holds a
// wildcard, or no filter, is malformed.
std::optional<std::string> reference_unshared(std::string_view filter) {
  const auto l = levels_of(filter);
  if (l.size() < 2 || l[0] != "$share") return std::string(filter);
  if (l.size() < 3 || l[1].empty() || l[1].find_first_of("+#") != std::string::npos)
    return std::nullopt;
  std::string inner = joined(l, 2);
  if (inner.empty()) return std::nullopt;
  return inner;
}

bool under_root(const std::string& topic) {
  const auto l = levels_of(topic);
  return l.size() >= 2 && l[0] == "opticworks";
}

bool reference_allows(Role role, const std::string& identity, Access access,
                      std::string_view topic) {
  const bool filter = access == Access::subscribe || access == Access::unsubscribe;
  if (role == Role::admin) return true;
  if (role == Role::service) {
    if (access == Access::write) {
      auto t = reference_parse(topic);
      return t && !reference_uplink(t->kind);
    }
    if (access == Access::read) return under_root(std::string(topic));
    auto inner = reference_unshared(topic);
    return inner && under_root(*inner);
  }
  std::optional<std::string> target = std::string(topic);
  if (filter) target = reference_unshared(topic);
  if (!target) return false;
  auto t = reference_parse(*target);
  if (!t || t->device != identity) return false;
  return access == Access::write ? reference_uplink(t->kind) : !reference_uplink(t->kind);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using rs1::fuzz::check;
  using rs1::fuzz::yes_no;
  const std::string_view whole(reinterpret_cast<const char*>(data), size);
  rs1::fuzz::Input in(data, size);
  const Role role = static_cast<Role>(in.byte() % 3);
  static constexpr Access kAccess[] = {Access::read, Access::write, Access::subscribe,
                                       Access::unsubscribe};
  const Access access = kAccess[in.byte() % 4];
  const std::string identity(in.line());
  const std::string_view topic = in.rest();

  const auto parsed = rs1::parse_device_topic(topic);
  const auto expected = reference_parse(topic);
  check(parsed.has_value() == expected.has_value() &&
            (!parsed || (parsed->device_id == expected->device && parsed->kind == expected->kind)),
        "parse_device_topic", whole, parsed ? std::string(parsed->device_id) : "none",
        expected ? expected->device : "none");

  const auto unshared = rs1::strip_shared_prefix(topic);
  const auto unshared_expected = reference_unshared(topic);
  check(unshared.has_value() == unshared_expected.has_value() &&
            (!unshared || *unshared == *unshared_expected),
        "strip_shared_prefix", whole, unshared ? std::string(*unshared) : "none",
        unshared_expected ? *unshared_expected : "none");

  const bool allows = rs1::acl_allows(role, identity, access, topic);
  const bool allows_expected = reference_allows(role, identity, access, topic);
  check(allows == allows_expected, "acl_allows", whole, yes_no(allows), yes_no(allows_expected));
  // A device's reach is never widened by a wildcard.
  if (role == Role::device && allows) {
    check(topic.find_first_of("+#") == std::string_view::npos,
          "a device's allowed topic or filter holds no wildcard", whole, "allowed", "denied");
  }

  const bool will = rs1::will_allowed(role, identity, topic);
  bool will_expected;
  if (role == Role::device) {
    auto t = reference_parse(topic);
    will_expected = t && t->device == identity && t->kind == DeviceTopic::state;
  } else {
    will_expected = reference_allows(role, identity, Access::write, topic);
  }
  check(will == will_expected, "will_allowed", whole, yes_no(will), yes_no(will_expected));
  return 0;
}
