#pragma once

// ScanWithReadAhead (private to broker/audit): LogSource::Scan with the reading moved to a helper
// thread, so that RocksDB iteration overlaps with the hashing the verifier does on the calling
// thread.
//
// Operation: the helper thread runs source.Scan and copies each event into one of a few recycled
// batches (no allocation per event once the batches have grown); the calling thread takes full
// batches in order and calls fn on each event. Same contract as LogSource::Scan: events in order,
// stops when fn returns false (the helper is then stopped too), Scan's status otherwise.
//
// Thread-safety: `on_read` runs on the helper thread, for each event before it is handed over;
// whatever it writes is visible to `fn` from the call for that event on. `fn` runs on the calling
// thread. `source` must allow reads from another thread (both LogSources do).

#include <cstdint>
#include <functional>
#include <string_view>

#include "broker/audit/log_source.h"
#include "core/status.h"

namespace passage::audit::internal {

Status ScanWithReadAhead(const LogSource& source, uint64_t after_seq, uint64_t limit,
                         const std::function<void(uint64_t seq)>& on_read,
                         const std::function<bool(uint64_t, std::string_view)>& fn);

}  // namespace passage::audit::internal
