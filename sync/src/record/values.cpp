// Vtiger's values and the mirror's column values (values.hpp); the canonical record text is base_text.cpp's.
#include "vtsync/sync/record/values.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

#include "record_text.hpp"

namespace vtsync::record {

std::string detail::without_nul(std::string_view s) {
  if (s.find('\0') == std::string_view::npos) return std::string{s};
  std::string out;
  out.reserve(s.size());
  for (char c : s)
    if (c != '\0') out += c;
  return out;
}

std::string detail::dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

using detail::dump;
using detail::without_nul;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool all_digits(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_digit); }

int to_int(std::string_view digits) {
  int v = 0;
  for (char c : digits) v = v * 10 + (c - '0');
  return v;
}

std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool leap_year(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// "YYYY-MM-DD" with a real calendar day (PostgreSQL would reject 2023-02-30, and one bad value must not
// fail a whole page).
bool valid_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  const auto y = s.substr(0, 4), m = s.substr(5, 2), d = s.substr(8, 2);
  if (!all_digits(y) || !all_digits(m) || !all_digits(d)) return false;
  const int year = to_int(y), month = to_int(m), day = to_int(d);
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const int limit = (month == 2 && leap_year(year)) ? 29 : days[month - 1];
  return day <= limit;
}

// "HH:MM" or "HH:MM:SS" (Vtiger always sends seconds; older data may lack them).
bool valid_time(std::string_view s) {
  if (s.size() != 5 && s.size() != 8) return false;
  if (s[2] != ':' || (s.size() == 8 && s[5] != ':')) return false;
  const auto h = s.substr(0, 2), m = s.substr(3, 2);
  if (!all_digits(h) || !all_digits(m) || to_int(h) > 23 || to_int(m) > 59) return false;
  if (s.size() == 8) {
    const auto sec = s.substr(6, 2);
    if (!all_digits(sec) || to_int(sec) > 59) return false;
  }
  return true;
}

bool is_zero_date(std::string_view s) { return s.substr(0, 10) == "0000-00-00"; }

// [+-]digits[.digits][e[+-]digits] or [+-].digits..., the forms PostgreSQL's numeric input accepts.
bool valid_decimal(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  std::size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && is_digit(s[i])) ++i, ++int_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_digit(s[i])) ++i, ++frac_digits;
  }
  if (int_digits + frac_digits == 0) return false;
  long exponent = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
    std::size_t exp_digits = 0;
    while (i < s.size() && is_digit(s[i])) {
      if (exp_digits++ < 4) exponent = exponent * 10 + (s[i] - '0');  // more digits are refused below
      ++i;
    }
    // numeric's exponent range is limited; a huge one would be rejected by the server.
    if (exp_digits == 0 || exp_digits > 3) return false;
    if (negative) exponent = -exponent;
  }
  // numeric_in also fails ("value overflows numeric format") past 16383 digits of scale or 131072 digits
  // before the point: a 20,000-digit value must become NULL, not fail the page.
  if (static_cast<long>(frac_digits) - exponent > 16383 || static_cast<long>(int_digits) + exponent > 131072)
    return false;
  return i == s.size();
}

bool valid_bigint(std::string_view s) {
  std::int64_t v = 0;
  const char* first = s.data();
  if (!s.empty() && s.front() == '+') ++first;
  // from_chars takes a '-' of its own: "+-5" must not pass (PostgreSQL's int8 input rejects it).
  if (first == s.data() + s.size() || (!is_digit(*first) && (*first != '-' || first != s.data())))
    return false;
  const auto [ptr, ec] = std::from_chars(first, s.data() + s.size(), v);
  return ec == std::errc{} && ptr == s.data() + s.size() && first != s.data() + s.size();
}

column_value null_value() { return {}; }
column_value malformed_value() { return {std::nullopt, true}; }
column_value text_value(std::string s) { return {std::move(s), false}; }

// A JSON scalar as text; nullopt for null, objects and arrays (which no Vtiger field sends).
std::optional<std::string> scalar_text(const nlohmann::json& v) {
  if (v.is_string()) return without_nul(v.get_ref<const std::string&>());
  if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
  if (v.is_number_integer() || v.is_number_unsigned()) return v.dump();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (d != d || d == std::numeric_limits<double>::infinity() ||
        d == -std::numeric_limits<double>::infinity())
      return std::nullopt;
    return v.dump();
  }
  return std::nullopt;
}

column_value string_to_column_value(column_type type, std::string text);

column_value json_to_column_value(column_type type, const nlohmann::json& v) {
  if (v.is_null()) return null_value();
  if (type == column_type::text_array && v.is_array()) {
    std::vector<std::string> items;
    for (const auto& item : v) {
      auto text = scalar_text(item);
      if (!text) return malformed_value();
      items.push_back(std::move(*text));
    }
    return text_value(storage::text_array_literal(items));
  }
  auto text = scalar_text(v);
  if (!text) return malformed_value();
  return string_to_column_value(type, std::move(*text));
}

column_value string_to_column_value(column_type type, std::string text) {
  if (text.find('\0') != std::string::npos) text = without_nul(text);
  const std::string_view s = text;
  switch (type) {
    case column_type::text:
      return text_value(std::move(text));
    case column_type::date: {
      const auto t = trim_spaces(s);
      if (t.empty() || is_zero_date(t)) return null_value();
      // A datetime-shaped value in a date field keeps its date part.
      const auto day = t.substr(0, 10);
      if (!valid_date(day) || (t.size() > 10 && t[10] != ' ' && t[10] != 'T')) return malformed_value();
      return text_value(std::string{day});
    }
    case column_type::timestamptz: {
      const auto t = trim_spaces(s);
      if (t.empty() || is_zero_date(t)) return null_value();
      if (t.size() == 10 && valid_date(t)) return text_value(std::string{t} + " 00:00:00");
      if (t.size() < 16 || (t[10] != ' ' && t[10] != 'T') || !valid_date(t.substr(0, 10)) ||
          !valid_time(t.substr(11)))
        return malformed_value();
      std::string out{t.substr(0, 10)};
      out += ' ';
      out += t.substr(11);
      if (out.size() == 16) out += ":00";
      return text_value(std::move(out));
    }
    case column_type::boolean: {
      const auto t = trim_spaces(s);
      if (t.empty()) return null_value();
      if (t == "1" || t == "true" || t == "on" || t == "yes") return text_value("true");
      if (t == "0" || t == "false" || t == "off" || t == "no") return text_value("false");
      return malformed_value();
    }
    case column_type::bigint: {
      const auto t = trim_spaces(s);
      if (t.empty()) return null_value();
      if (valid_bigint(t)) return text_value(std::string{t});
      // Vtiger stores some integers as decimals ("5.000"): keep them when the fraction is zero.
      if (const auto dot = t.find('.'); dot != std::string_view::npos && valid_bigint(t.substr(0, dot)) &&
                                        t.find_first_not_of('0', dot + 1) == std::string_view::npos)
        return text_value(std::string{t.substr(0, dot)});
      return malformed_value();
    }
    case column_type::numeric: {
      const auto t = trim_spaces(s);
      if (t.empty()) return null_value();
      if (!valid_decimal(t)) return malformed_value();
      return text_value(std::string{t});
    }
    case column_type::text_array:
      return text_value(storage::text_array_literal(split_multipicklist(s)));
  }
  return malformed_value();
}

}  // namespace

column_type column_type_for(std::string_view name) noexcept {
  if (name == "date") return column_type::date;
  if (name == "datetime") return column_type::timestamptz;
  if (name == "boolean") return column_type::boolean;
  if (name == "integer") return column_type::bigint;
  if (name == "double" || name == "currency") return column_type::numeric;
  if (name == "multipicklist") return column_type::text_array;
  return column_type::text;
}

column_value to_column_value(column_type type, const flat_value& v) {
  switch (v.type) {
    case flat_value::kind::string:
      return string_to_column_value(type, v.text);
    case flat_value::kind::null:
      return null_value();
    case flat_value::kind::json:
      break;
  }
  return json_to_column_value(type, nlohmann::json::parse(v.text));
}

flat_value to_flat_value(const nlohmann::json& v) {
  if (v.is_string()) return {flat_value::kind::string, v.get_ref<const std::string&>()};
  if (v.is_null()) return {};
  return {flat_value::kind::json, dump(v)};
}

flat_record to_flat_record(const nlohmann::json& object) {
  flat_record out;
  if (!object.is_object()) return out;
  out.fields.reserve(object.size());
  for (auto it = object.begin(); it != object.end(); ++it)
    out.fields.push_back({it.key(), to_flat_value(it.value())});
  return out;  // std::map keeps the keys sorted
}

nlohmann::json to_vtiger_value(column_type type, const nlohmann::json& v) {
  if (v.is_null()) return "";
  switch (type) {
    case column_type::boolean:
      if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
      if (v.is_string()) {
        const auto& s = v.get_ref<const std::string&>();
        return (s == "t" || s == "true" || s == "1") ? "1" : "0";
      }
      return v.is_number() && v != 0 ? "1" : "0";
    case column_type::text_array: {
      // Vtiger's own encoding, "A |##| B": a real 8.2 keeps only the first value of a JSON array
      // (recordings 423, 424).
      std::vector<std::string> items;
      if (v.is_array()) {
        for (const auto& item : v) items.push_back(item.is_string() ? item.get<std::string>() : item.dump());
      } else if (v.is_string()) {
        items = split_multipicklist(v.get_ref<const std::string&>());
      }
      std::string out;
      for (const auto& item : items) {
        if (!out.empty()) out += " |##| ";
        out += item;
      }
      return out;
    }
    case column_type::timestamptz: {
      if (!v.is_string()) return "";
      std::string s = v.get<std::string>();
      if (s.size() >= 19) {
        s.resize(19);  // drop fractional seconds and any offset: Vtiger stores whole seconds
        if (s[10] == 'T') s[10] = ' ';
      }
      return s;
    }
    case column_type::date: {
      if (!v.is_string()) return "";
      return v.get<std::string>().substr(0, 10);
    }
    case column_type::bigint:
    case column_type::numeric:
      // to_jsonb(numeric) keeps PostgreSQL's exact digits (never an exponent); dump() reproduces them for
      // integers. A float can only come from elsewhere: print it without locale effects.
      if (v.is_string()) return v;
      if (v.is_number_integer() || v.is_number_unsigned()) return v.dump();
      if (v.is_number_float()) return v.dump();
      return "";
    case column_type::text:
      break;
  }
  if (v.is_string()) return v;
  return v.dump();
}

std::vector<std::string> split_multipicklist(std::string_view value) {
  std::vector<std::string> out;
  constexpr std::string_view separator = "|##|";
  while (true) {
    const auto pos = value.find(separator);
    // NULs go first: a piece of only NULs (and spaces) is an empty piece, never an empty element.
    const std::string piece = without_nul(value.substr(0, pos));
    const auto trimmed = trim_spaces(piece);
    if (!trimmed.empty()) out.emplace_back(trimmed);
    if (pos == std::string_view::npos) break;
    value.remove_prefix(pos + separator.size());
  }
  return out;
}

std::optional<std::int64_t> vtiger_id_number(std::string_view id) noexcept {
  const auto x = id.find('x');
  if (x == std::string_view::npos || x == 0 || !all_digits(id.substr(0, x))) return std::nullopt;
  const auto digits = id.substr(x + 1);
  if (!all_digits(digits)) return std::nullopt;
  std::int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc{} || ptr != digits.data() + digits.size()) return std::nullopt;
  return v;
}

}  // namespace vtsync::record
