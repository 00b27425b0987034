// libFuzzer target: the configuration parser (config/src/load.cpp and the key table it reads with) on
// arbitrary TOML text. It must never crash and never throw anything but config_error, whose message names the
// file.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "vtsync/config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // No process environment: a fuzz run must not depend on (or read secrets through) the caller's.
  vtsync::config::environment env;
  if (size > 0 && (data[0] & 1)) env.vars["VTSYNC_VTIGER_ACCESS_KEY"] = "fuzzAccessKey0001";
  try {
    const auto s = vtsync::config::load_from_string(text, "fuzz.toml", env);
    FUZZ_CHECK(!s.vtiger.access_key.empty(), "a configuration was accepted without an access key");
    (void)vtsync::config::restart_required_changes(s, s);
  } catch (const vtsync::config::config_error& e) {
    const std::string_view what = e.what();
    FUZZ_CHECK(what.rfind("fuzz.toml", 0) == 0, "an error message that does not start with the file name");
    // (Unless the text itself holds those bytes, e.g. as a section name that the message quotes.)
    if (text.find("fuzzAccessKey0001") == std::string_view::npos)
      FUZZ_CHECK(what.find("fuzzAccessKey0001") == std::string_view::npos,
                 "the access key is in an error message");
  }
  return 0;
}
