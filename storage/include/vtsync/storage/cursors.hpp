#pragma once
// The cursors repository: where each module's incremental pull stands (vtsync.cursors, one row per mirror
// schema and module) and when its last cycle succeeded. A page's rows and the cursor it moves to are
// written in ONE transaction: mirror_rows::store_page writes the cursor through cursors::save, inside its
// own transaction. Error policy: as state.hpp.
#include "vtsync/storage/pg.hpp"
#include "vtsync/storage/state.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vtsync::storage {

struct cursor_position {
  std::string modifiedtime;  // as Vtiger sent it
  std::string last_id;       // "" when unknown

  friend bool operator==(const cursor_position&, const cursor_position&) = default;
};

struct module_cursor {
  std::string module;
  std::optional<cursor_position> position;
  std::optional<std::string> last_success_at;  // ISO 8601 UTC
  std::optional<std::int64_t> lag_seconds;     // now() - last_success_at, whole seconds
};

// The cursors of this repository's mirror schema (options: mirror_schema), on one connection.
class cursors {
 public:
  cursors(connection& conn, state_options options);

  [[nodiscard]] const state_options& options() const noexcept { return options_; }

  asio::awaitable<std::optional<cursor_position>> load_cursor(std::string_view module);
  asio::awaitable<std::vector<module_cursor>> load_cursors();
  // Records a successful cycle with nothing to store (last_success_at = now()).
  asio::awaitable<void> record_success(std::string_view module);

  // Moves the cursor of (`mirror_schema`, `module`) to `position` (last_success_at = now()) inside the
  // caller's transaction `tx`: how store_page advances it together with the page.
  static asio::awaitable<void> save(connection& tx, const std::string& state_schema,
                                    const std::string& mirror_schema, const std::string& module,
                                    const cursor_position& position);

 private:
  connection& conn_;
  state_options options_;
};

}  // namespace vtsync::storage
