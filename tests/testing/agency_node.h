#pragma once

// Test helpers for process-level tests: an agency node (its LocalStore and Client, which can be
// destroyed and reopened on the same directory to simulate a node restart), and a read-only view
// of a stopped broker's event log.
//
// Concurrency: an AgencyNode is used by one thread (the Client is single-threaded).

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "broker/log/event_log.h"
#include "passage/v1/events.pb.h"
#include "services/runtime/client.h"
#include "services/runtime/local_store.h"
#include "tests/testing/broker_process.h"

namespace passage::testing {

// The sample NRM of the process-level tests: four first responders (fia, police, border, labour),
// a shelter NGO and IOM.
inline std::vector<TestAgency> SampleAgencies() {
  namespace v1 = passage::v1;
  return {
      {"fia", v1::AGENCY_TYPE_LAW_ENFORCEMENT, true, false, {v1::SERVICE_TYPE_INVESTIGATION}, {}},
      {"police", v1::AGENCY_TYPE_LAW_ENFORCEMENT, true, false, {v1::SERVICE_TYPE_INVESTIGATION}, {}},
      {"border", v1::AGENCY_TYPE_LAW_ENFORCEMENT, true, false, {v1::SERVICE_TYPE_INVESTIGATION}, {}},
      {"labour", v1::AGENCY_TYPE_LABOUR_INSPECTION, true, false, {}, {}},
      {"shelter", v1::AGENCY_TYPE_SHELTER, false, false, {v1::SERVICE_TYPE_SHELTER}, {}},
      {"iom", v1::AGENCY_TYPE_INTERNATIONAL_ORGANISATION, false, false,
       {v1::SERVICE_TYPE_RETURN_REINTEGRATION}, {}},
  };
}

struct AgencyNode {
  std::string agency;
  std::string dir;
  std::unique_ptr<runtime::LocalStore> store;
  std::unique_ptr<runtime::Client> client;

  // Destroys the client, then the store (the RocksDB lock is released): the node "crashes".
  void Close() {
    client.reset();
    store.reset();
  }
};

// Opens (or reopens) the store at `dir` and connects a client for `agency`; `tweak` may adjust
// the client options before the client is created.
inline Status OpenNode(BrokerProcess& broker, const std::string& agency, const std::string& dir,
                       AgencyNode* node,
                       const std::function<void(runtime::ClientOptions&)>& tweak = {}) {
  node->Close();
  node->agency = agency;
  node->dir = dir;
  ASSIGN_OR_RETURN(node->store, runtime::LocalStore::Open(dir));
  runtime::ClientOptions o = broker.ClientOptionsFor(agency, node->store.get());
  if (tweak) {
    tweak(o);
  }
  ASSIGN_OR_RETURN(node->client, runtime::Client::Create(o));
  return Status::Ok();
}

// Every envelope of the log at `log_dir` (a stopped broker's "<dir>/data/log"), opened read-only,
// in global seq order. Corruption (from Scan) when a seq is missing.
inline Result<std::vector<passage::v1::Envelope>> ReadWholeLog(const std::string& log_dir) {
  log::EventLogOptions lo;
  lo.path = log_dir;
  lo.read_only = true;
  lo.create_if_missing = false;
  ASSIGN_OR_RETURN(auto log, log::EventLog::Open(lo));
  std::vector<passage::v1::Envelope> out;
  Status bad;
  uint64_t expected = 1;
  RETURN_IF_ERROR(log->Scan(0, log->LastSeq(), [&](uint64_t seq, std::string_view bytes) {
    passage::v1::Envelope env;
    if (seq != expected || !env.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
        env.global_seq() != seq) {
      bad = Status::Corruption("seq " + std::to_string(seq) + " (expected " +
                               std::to_string(expected) + ") does not hold its envelope");
      return false;
    }
    ++expected;
    out.push_back(std::move(env));
    return true;
  }));
  RETURN_IF_ERROR(bad);
  if (out.size() != log->LastSeq()) {
    return Status::Corruption("the log says it holds " + std::to_string(log->LastSeq()) +
                              " events but a scan found " + std::to_string(out.size()));
  }
  return out;
}

// The broker's state value at `key` in a stopped broker's log, opened read-only.
inline Result<std::optional<std::string>> ReadBrokerState(const std::string& log_dir,
                                                          const std::string& key) {
  log::EventLogOptions lo;
  lo.path = log_dir;
  lo.read_only = true;
  lo.create_if_missing = false;
  ASSIGN_OR_RETURN(auto log, log::EventLog::Open(lo));
  return log->GetState(key);
}

}  // namespace passage::testing
