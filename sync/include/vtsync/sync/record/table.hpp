#pragma once
// Records and the mirror table: the table a module's describe gives, and records as the rows storage
// writes (the pull's pages, and the record a push gets back, written back through the same columns).
//
// Error policy: table_from_describe throws storage::schema_error for a describe it cannot use (no fields,
// a field name PostgreSQL cannot hold). to_rows and to_row never throw on any record (apart from
// std::bad_alloc): a value that does not fit its column is stored as NULL and counted as malformed.
#include "vtsync/storage/columns.hpp"
#include "vtsync/storage/schema.hpp"
#include "vtsync/sync/record/flat_record.hpp"

#include <nlohmann/json.hpp>

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vtsync::record {

// A mirror table from a describe result (`result` of the describe call: {name, fields: [...]}). Each
// field becomes a column typed as values.hpp says; the describe's `id` field is not a column (it is
// vtiger_id), and a field with an internal name (schema.hpp) is skipped and listed in skipped_fields.
// A secret (is_secret_field) is never a column: listed in secret_fields, and to_rows leaves it out of the
// row's base too, so no secret value reaches the mirror whatever Vtiger sends.
[[nodiscard]] storage::mirror_table table_from_describe(std::string_view schema,
                                                        const nlohmann::json& describe_result);

// Narrows `table` to a module's field scope (modules.<Module>.fields / exclude_fields; at most one of the two
// is non-empty): the columns left out are listed in skipped_fields. Returns the names of the lists that
// describe does not know (the caller warns: a field may come later).
std::vector<std::string> narrow_to_fields(storage::mirror_table& table,
                                          const std::vector<std::string>& fields,
                                          const std::vector<std::string>& exclude_fields);

// Users and Groups: mirrored read-only by nature (Vtiger refuses to create Users through the web service,
// and a group is not a record one edits there); their table gets storage::install_write_refusal.
[[nodiscard]] bool is_read_only_module(std::string_view module) noexcept;

// Whether a field holds a secret that is never mirrored: any field of type `password`, and the names of
// access keys and password hashes (accesskey, user_password, confirm_password, user_hash, crypt_type, ...).
[[nodiscard]] bool is_secret_field(std::string_view name, std::string_view type_name) noexcept;

// A page of records as rows of `table`: one per distinct id, the last occurrence winning (ON CONFLICT
// cannot touch a row twice in one statement, and Vtiger's pages can repeat a record across a modifiedtime
// tie); a record without a string `id` is no record and is left out. Each row's base is base_text(record).
// Records must be complete (every describe field present, as `query SELECT *` and `retrieve` return
// them): an absent field is NULL.
[[nodiscard]] storage::row_batch to_rows(const storage::mirror_table& table,
                                         std::span<const flat_record> records);

// One record as a row of one, whatever its id (the write-back of a pushed record).
[[nodiscard]] storage::row_batch to_row(const storage::mirror_table& table, const flat_record& record);

// A row's column values as storage reads them (to_jsonb() form, timestamptz already in the server's zone:
// push_support.hpp's row_snapshot::values) as the values Vtiger expects, each converted by its column's
// type (values.hpp: to_vtiger_value; a column no longer in describe as text).
[[nodiscard]] nlohmann::json to_vtiger_values(const storage::mirror_table& table,
                                              const nlohmann::json& column_values);

}  // namespace vtsync::record
