// The typed readers of reading.hpp: one TOML node to the C++ value of a key, or config_error.
#include "reading.hpp"

#include "vtsync/config/duration.hpp"

namespace vtsync::config::detail {

namespace {

constexpr named<toml::node_type> node_type_names[] = {
    {toml::node_type::string, "a string"},         {toml::node_type::integer, "an integer"},
    {toml::node_type::floating_point, "a number"}, {toml::node_type::boolean, "a boolean"},
    {toml::node_type::array, "an array"},          {toml::node_type::table, "a table"},
};

}  // namespace

std::string node_type_name(const toml::node& node) {
  return std::string{name_of(node_type_names, node.type(), "a date or time")};
}

std::string as_string(const toml::node& node, const origin& at) {
  if (const auto* s = node.as_string()) return s->get();
  at.fail("expected a string, got " + node_type_name(node));
}

std::string as_nonempty_string(const toml::node& node, const origin& at) {
  auto value = as_string(node, at);
  if (value.empty()) at.fail("must not be empty");
  return value;
}

bool as_bool(const toml::node& node, const origin& at) {
  if (const auto* b = node.as_boolean()) return b->get();
  at.fail("expected true or false, got " + node_type_name(node));
}

std::int64_t as_integer(const toml::node& node, const origin& at, std::int64_t min, std::int64_t max) {
  const auto* i = node.as_integer();
  if (i == nullptr) at.fail("expected an integer, got " + node_type_name(node));
  if (i->get() < min || i->get() > max) {
    at.fail("must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
            std::to_string(i->get()));
  }
  return i->get();
}

double as_number(const toml::node& node, const origin& at) {
  if (const auto* i = node.as_integer()) return static_cast<double>(i->get());
  if (const auto* f = node.as_floating_point()) return f->get();
  at.fail("expected a number, got " + node_type_name(node));
}

std::chrono::milliseconds as_duration(const toml::node& node, const origin& at, std::chrono::milliseconds min,
                                      std::chrono::milliseconds max) {
  const auto text = as_string(node, at);
  const auto value = parse_duration(text);
  if (!value) at.fail("'" + text + "' is not a duration (write e.g. 500ms, 30s, 5m, 1h)");
  if (*value < min || *value > max) {
    at.fail("must be between " + format_duration(min) + " and " + format_duration(max) + ", got " + text);
  }
  return *value;
}

std::string as_choice(const toml::node& node, const origin& at, const std::vector<std::string>& choices) {
  auto value = as_string(node, at);
  for (const auto& c : choices) {
    if (c == value) return value;
  }
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  at.fail("'" + value + "' is not one of: " + list);
}

}  // namespace vtsync::config::detail
