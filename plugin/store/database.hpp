// One connection to the database, seen through one narrow interface per
// domain, so the broker and rs1ctl never see SQL and another backend
// (PostgreSQL) can follow domain by domain. Use a Database from one thread at
// a time; open one per thread.
#pragma once

#include <memory>
#include <string>

#include "features/accounts/account.hpp"
#include "features/devices/device.hpp"
#include "features/diag/diag.hpp"
#include "features/ota/firmware.hpp"
#include "features/ota/rollout.hpp"
#include "features/ops/ops_store.hpp"
#include "features/security_log/security_log.hpp"
#include "features/telemetry/telemetry.hpp"
#include "features/zones/zones.hpp"
#include "runtime/change_feed_store.hpp"
#include "runtime/ingest_store.hpp"

namespace rs1 {

class Database {
 public:
  virtual ~Database() = default;

  // Brings the schema to the newest migration; a no-op when it is there.
  // Throws StoreError(fatal) for a database newer than this code.
  virtual void migrate() = 0;
  virtual int schema_version() = 0;

  virtual DeviceStore& devices() = 0;
  virtual AccountStore& accounts() = 0;
  virtual TelemetryStore& telemetry() = 0;
  virtual SecurityLogStore& security_log() = 0;
  virtual DiagStore& diag() = 0;
  virtual ZoneStore& zones() = 0;
  virtual FirmwareStore& firmware() = 0;
  virtual RolloutStore& rollouts() = 0;
  virtual ChangeFeedStore& change_feed() = 0;
  virtual IngestStore& ingest() = 0;
  virtual OpsStore& ops() = 0;

  // Heap the database engine holds for the whole process now (every
  // connection's page cache, statements, schema), in bytes.
  virtual std::int64_t engine_memory_bytes() = 0;
};

}  // namespace rs1
