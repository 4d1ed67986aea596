#pragma once

// TempDir: a fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace passage::testing {

class TempDir {
 public:
  TempDir() : TempDir(std::string()) {}
  // Under `base` instead (empty: $TMPDIR or /tmp).
  explicit TempDir(const std::string& base_dir) {
    const char* env = std::getenv("TMPDIR");
    std::string base = !base_dir.empty() ? base_dir : (env != nullptr ? env : "/tmp");
    std::string tmpl = base + "/passage-test-XXXXXX";
    char* made = mkdtemp(tmpl.data());
    path_ = made != nullptr ? made : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A memory-backed directory (/dev/shm) when there is one, else "" (the default base): for stores
// whose fsyncs a test does not examine, so that a busy shared disk does not set its pace.
inline std::string MemoryTempBase() {
  std::error_code ec;
  return std::filesystem::is_directory("/dev/shm", ec) && access("/dev/shm", W_OK) == 0
             ? "/dev/shm"
             : "";
}

}  // namespace passage::testing
