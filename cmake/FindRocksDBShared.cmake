# Debian's RocksDBConfig.cmake pulls in gflags/snappy/... find modules for the static
# library; we only link the shared one, so import it directly.
find_path(ROCKSDB_INCLUDE_DIR rocksdb/db.h REQUIRED)
find_library(ROCKSDB_SHARED_LIBRARY NAMES rocksdb REQUIRED)
if(NOT TARGET RocksDB::rocksdb-shared)
  add_library(RocksDB::rocksdb-shared SHARED IMPORTED)
  set_target_properties(RocksDB::rocksdb-shared PROPERTIES
    IMPORTED_LOCATION ${ROCKSDB_SHARED_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${ROCKSDB_INCLUDE_DIR})
endif()
