// Needs: fake Vtiger (build/fake-vtiger).
// Property: any non-empty string survives create + a VTQL query on it, byte for byte.
#include <gtest/gtest.h>

#include <random>

#include "client_test_util.hpp"
#include "vtsync/sync/vtiger/vtql.hpp"

using namespace vtsync;
using namespace vtsync::vtiger;
using vtsync::test::run;
using vtsync::test::test_options;

namespace {

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Vtiger HTML-decodes what it returns (vtiger-webservice.md §14), so text that already contains an entity
// cannot come back unchanged; such strings are outside the property.
bool contains_entity(const std::string& s) {
  for (const char* e : {"&amp;", "&lt;", "&gt;", "&quot;", "&#039;", "&#39;"})
    if (s.find(e) != std::string::npos) return true;
  return false;
}

std::string random_text(std::mt19937& rng) {
  // Weighted towards what breaks quoting: quotes, backslashes, SQL wildcards, VTQL punctuation.
  static const std::u32string specials = U"'\\\"%_;,()=<>*\n\r\t &#x ";
  std::uniform_int_distribution<int> length(1, 24);
  std::uniform_int_distribution<int> pick(0, 9);
  std::string s;
  const int n = length(rng);
  for (int i = 0; i < n; ++i) {
    const int p = pick(rng);
    char32_t cp = 0;
    if (p < 4) {
      cp = specials[std::uniform_int_distribution<std::size_t>(0, specials.size() - 1)(rng)];
    } else if (p < 7) {
      cp = std::uniform_int_distribution<char32_t>(0x20, 0x7E)(rng);
    } else if (p < 9) {
      cp = std::uniform_int_distribution<char32_t>(0xA0, 0x2FFF)(rng);  // Latin, Greek, Cyrillic, symbols
    } else {
      cp = std::uniform_int_distribution<char32_t>(0x4E00, 0x9FFF)(rng);  // CJK (BMP, no surrogates)
    }
    append_utf8(s, cp);
  }
  return s;
}

}  // namespace

TEST(ClientLiteralRoundTrip, AnyStringIsFoundByAQuotedLiteralAndComesBackIdentical) {
  std::vector<std::string> cases = {"O'Brien",
                                    "''",
                                    "'",
                                    "\\",
                                    "\\\\'",
                                    "a\\",
                                    "\\'; DROP TABLE",
                                    "100%",
                                    "_",
                                    "%_%",
                                    "a;b",
                                    "x' OR '1'='1",
                                    "line\nbreak",
                                    "tab\there",
                                    "cr\rlf\n",
                                    "\"quoted\"",
                                    "Zoë Ñúñez",
                                    "日本語テキスト",
                                    "ÿ",
                                    "trailing ",
                                    " leading",
                                    "€ sign",
                                    "\\u0022",
                                    "\\n literal",
                                    "&",
                                    "a&b",
                                    "<b>bold</b>",
                                    "id > '12x1'",
                                    "end\\",
                                    "'\\'\\'"};
  std::mt19937 rng(20261128);
  while (cases.size() < 330) {
    auto s = random_text(rng);
    if (!contains_entity(s)) cases.push_back(std::move(s));
  }

  test::fake_vtiger fake;
  boost::asio::io_context io;
  client c(io.get_executor(), test_options(fake.url()));
  auto body = [&]() -> boost::asio::awaitable<void> {
    for (const auto& s : cases) {
      const json created_element = {{"lastname", s}, {"assigned_user_id", "19x1"}};
      auto created = co_await c.create("Contacts", created_element);
      if (!created) {
        ADD_FAILURE() << "create refused " << json(s).dump() << ": " << created.error().code;
        continue;
      }
      const std::string id = created->at("id").get<std::string>();
      const auto q = vtql::select_query("Contacts", {"id", "lastname"}).where("lastname", "=", s).str();
      if (!q) {
        ADD_FAILURE() << "not expressible: " << json(s).dump();
        continue;
      }
      auto rows = co_await c.query(*q);
      if (!rows) {
        ADD_FAILURE() << "query refused for " << json(s).dump() << ": " << rows.error().code << " " << *q;
        continue;
      }
      bool found = false;
      for (const auto& r : *rows) {
        if (r.at("id") == id) {
          found = true;
          EXPECT_EQ(r.at("lastname").get<std::string>(), s) << json(s).dump();
        }
      }
      EXPECT_TRUE(found) << "not found: " << json(s).dump() << " with " << *q;
    }
  };
  run(io, body());
  EXPECT_EQ(c.stats().relogins, 0u);
}
