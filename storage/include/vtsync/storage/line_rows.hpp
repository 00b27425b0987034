#pragma once
// The line items of the inventory modules (Quotes, SalesOrder, PurchaseOrder, Invoice): one table per
// module, `<schema>.<table>_lineitems` (e.g. vtiger.invoice_lineitems), beside the header's mirror table:
//   _row_id, vtiger_id (the line's id, 33xN, unique, NULL until pushed), parent_row_id (the header row's
//   _row_id; ON DELETE CASCADE: deleting a header deletes its lines, and the header's delete is what is
//   pushed), one typed column per field of `describe LineItem` (parent_id: the header's vtiger_id,
//   sequence_no, productid, quantity, listprice, ...), _sync_state, _sync_error, _sync_base.
// Lines are matched to Vtiger's by (header, sequence_no): Vtiger gives every line a new id on every write
// of the list, so an unchanged line whose id moved only has its vtiger_id rewritten (same _row_id).
// A user's INSERT/UPDATE/DELETE of a line is captured as an `update` outbox entry of the HEADER row with
// changed column "LineItems" (folded into a pending one, none when the header's create is still pending:
// the create reads the lines when it is sent); the push sends the whole list (push_lines.cpp).
// Error policy: as state.hpp.
#include "vtsync/storage/columns.hpp"
#include "vtsync/storage/pg.hpp"
#include "vtsync/storage/schema.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vtsync::storage {

// Quotes, SalesOrder, PurchaseOrder, Invoice.
[[nodiscard]] bool is_inventory_module(std::string_view module) noexcept;

// The header fields of an inventory module that Vtiger's query reads from the joined line rows
// (productid, quantity, listprice, comment, the line discounts and taxes, and the header discounts
// hdnDiscountPercent/hdnDiscountAmount, which share the line discounts' column names). Selecting any of
// them (or `*`) makes Vtiger apply LIMIT to the joined LINE rows: a page of 100 may hold 4 records (a real
// Vtiger 8.2, recordings 560-562), and their values are those of whichever line ended the window. They are
// not mirrored on the header: lines are in `<table>_lineitems`.
[[nodiscard]] bool is_line_joined_field(std::string_view field) noexcept;

// The line table of `header` from the table `describe LineItem` gives (record::table_from_describe): named
// `<header table>_lineitems` in the header's schema, module "LineItem".
[[nodiscard]] mirror_table line_table_for(const mirror_table& header, mirror_table described);

// Creates or extends `header.lines` (which must be set) next to the header table (which must exist), with
// its capture triggers. Safe concurrently (the header table's DDL lock).
asio::awaitable<void> ensure_line_table(connection& conn, const mirror_table& header,
                                        std::string_view state_schema);

// Inside the caller's transaction: the lines Vtiger has for `parent_ids` (header vtiger_ids; `lines` are
// rows of header.lines, their parent_id column naming the header) become the lines of those headers,
// matched by sequence_no: matched rows keep their _row_id (only what differs is rewritten), lines Vtiger
// no longer has are deleted, new ones inserted; all as daemon writes (never captured). A header with a
// local change not yet pushed (header or any of its lines pending or failed) is left alone unless `force`
// (the push's write-back). Returns the number of lines inserted, updated or deleted.
asio::awaitable<std::size_t> store_lines(connection& c, const mirror_table& header,
                                         std::span<const std::string> parent_ids, const row_batch& lines,
                                         const std::string& zone, bool force = false);

// The lines of header row `row_id` as the push sends them: each line's columns (to_jsonb form), in
// sequence_no order (NULLs last, then by _row_id).
asio::awaitable<std::vector<nlohmann::json>> read_line_values(connection& c, const mirror_table& header,
                                                              std::int64_t row_id);

// Inside the caller's transaction: numbers the lines of header row `row_id` 1..n in the order
// read_line_values gives (the order they were sent in), sets their parent_id, so that Vtiger's answer
// matches them by sequence_no.
asio::awaitable<void> number_lines(connection& c, const mirror_table& header, std::int64_t row_id,
                                   const std::string& parent_id);

}  // namespace vtsync::storage
