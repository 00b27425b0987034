#pragma once
// Kept for existing includes: VTQL now lives in vtsync/sync/vtiger/vtql.hpp (namespace vtsync::vtiger::vtql).
#include "vtsync/sync/vtiger/vtql.hpp"

namespace vtsync::vtql {
using vtsync::vtiger::vtql::quote_literal;
}  // namespace vtsync::vtql
