#include "vtsync/storage/conninfo.hpp"

#include <libpq-fe.h>

#include <memory>

namespace vtsync::storage {

namespace {

std::string quote_value(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  out += '\'';
  return out;
}

}  // namespace

std::string scrub_conninfo(std::string_view conninfo) {
  // Let libpq itself parse the string: it knows both syntaxes and every quoting rule.
  const std::string text{conninfo};
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options{PQconninfoParse(text.c_str(), &error),
                                                                       &PQconninfoFree};
  if (error != nullptr) PQfreemem(error);
  if (!options) return "<unparsable conninfo>";
  std::string out;
  for (const PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    if (!out.empty()) out += ' ';
    out += o->keyword;
    out += '=';
    const std::string_view keyword{o->keyword};
    out += (keyword == "password") ? std::string{"***"} : quote_value(o->val);
  }
  return out;
}

}  // namespace vtsync::storage
