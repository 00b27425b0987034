// parse_query_records (protocol.hpp): the common successful `query` answer, {"success":true,"result":[...]}
// with records of strings and nulls, scanned straight into flat records without building a JSON document.
// Anything outside that subset returns nullopt and goes through parse_response (response.cpp).
#include <algorithm>
#include <cstdint>

#include "vtsync/sync/vtiger/protocol.hpp"

namespace vtsync::vtiger {
namespace {

// A cursor over a body for parse_query_records: every method returns false for input outside the
// accepted subset (the caller then falls back to parse_response).
class record_scanner {
 public:
  explicit record_scanner(std::string_view body) : p_(body.data()), end_(body.data() + body.size()) {}

  void skip_ws() noexcept {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool eat(char c) noexcept {
    skip_ws();
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }
  bool peek(char c) noexcept {
    skip_ws();
    return p_ != end_ && *p_ == c;
  }
  bool at_end() noexcept {
    skip_ws();
    return p_ == end_;
  }
  bool literal(std::string_view word) noexcept {
    skip_ws();
    if (static_cast<std::size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word)
      return false;
    p_ += word.size();
    return true;
  }

  // A JSON string into `out` (decoded).
  bool string(std::string& out) {
    if (!eat('"')) return false;
    out.clear();
    bool high = false;
    const char* run = p_;
    while (p_ != end_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        out.append(run, p_);
        ++p_;
        return !high || valid_utf8(out);
      }
      if (c < 0x20) return false;  // a raw control character: parse_response's escaping decides
      if (c >= 0x80) high = true;
      if (c != '\\') {
        ++p_;
        continue;
      }
      out.append(run, p_);
      if (++p_ == end_) return false;
      switch (*p_++) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // a lone low surrogate
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            std::uint32_t low = 0;
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
            p_ += 2;
            if (!hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default:
          return false;
      }
      run = p_;
    }
    return false;  // unterminated
  }

 private:
  bool hex4(std::uint32_t& cp) noexcept {
    if (end_ - p_ < 4) return false;
    for (int i = 0; i < 4; ++i) {
      const char h = *p_++;
      cp <<= 4;
      if (h >= '0' && h <= '9') {
        cp |= static_cast<std::uint32_t>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        cp |= static_cast<std::uint32_t>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        cp |= static_cast<std::uint32_t>(h - 'A' + 10);
      } else {
        return false;
      }
    }
    return true;
  }
  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  const char* p_;
  const char* end_;
};

// The field order of the previous record: Vtiger sends every record of a page with the same fields in
// the same order, so the sorting permutation is worked out once per page.
struct field_order {
  std::vector<std::string> names;     // as sent
  std::vector<std::uint16_t> sorted;  // indexes into `names`, in name order
};

bool scan_record(record_scanner& in, flat_record& record, field_order& order) {
  if (!in.eat('{')) return false;
  std::vector<flat_field> sent;
  sent.reserve(order.names.size());
  if (!in.eat('}')) {
    do {
      flat_field f;
      if (!in.string(f.name) || !in.eat(':')) return false;
      if (in.peek('"')) {
        f.value.type = flat_value::kind::string;
        if (!in.string(f.value.text)) return false;
      } else if (!in.literal("null")) {
        return false;  // a number, boolean, array or object: parse_response
      }
      sent.push_back(std::move(f));
    } while (in.eat(','));
    if (!in.eat('}')) return false;
  }
  if (sent.size() > 0xFFFF) return false;
  bool same = sent.size() == order.names.size();
  for (std::size_t i = 0; same && i < sent.size(); ++i) same = sent[i].name == order.names[i];
  if (!same) {
    order.names.clear();
    for (const auto& f : sent) order.names.push_back(f.name);
    order.sorted.resize(sent.size());
    for (std::size_t i = 0; i < sent.size(); ++i) order.sorted[i] = static_cast<std::uint16_t>(i);
    std::sort(order.sorted.begin(), order.sorted.end(),
              [&](std::uint16_t a, std::uint16_t b) { return order.names[a] < order.names[b]; });
    for (std::size_t i = 1; i < order.sorted.size(); ++i) {
      if (order.names[order.sorted[i - 1]] == order.names[order.sorted[i]]) {
        order.names.clear();  // a repeated key: parse_response decides
        return false;
      }
    }
  }
  record.fields.clear();
  record.fields.reserve(sent.size());
  for (const auto i : order.sorted) record.fields.push_back(std::move(sent[i]));
  return true;
}

}  // namespace

std::optional<std::vector<flat_record>> parse_query_records(std::string_view body) {
  record_scanner in{body};
  std::vector<flat_record> records;
  bool success = false, result = false;
  if (!in.eat('{')) return std::nullopt;
  std::string key;
  do {
    if (!in.string(key) || !in.eat(':')) return std::nullopt;
    if (key == "success" && !success) {
      if (!in.literal("true")) return std::nullopt;
      success = true;
    } else if (key == "result" && !result) {
      if (!in.eat('[')) return std::nullopt;
      if (!in.eat(']')) {
        field_order order;
        do {
          flat_record record;
          if (!scan_record(in, record, order)) return std::nullopt;
          records.push_back(std::move(record));
        } while (in.eat(','));
        if (!in.eat(']')) return std::nullopt;
      }
      result = true;
    } else {
      return std::nullopt;
    }
  } while (in.eat(','));
  if (!in.eat('}') || !in.at_end() || !success || !result) return std::nullopt;
  return records;
}

}  // namespace vtsync::vtiger
