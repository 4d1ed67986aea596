#pragma once

// Runs passagectl in-process (RunPassagectl) with captured output, for the audit tests.

#include <sstream>
#include <string>
#include <vector>

#include "services/ctl/ctl.h"
#include "tests/testing/temp_dir.h"

namespace passage::ctl {

struct CtlRun {
  int code = -1;
  std::string out;
  std::string err;
};

// Sessions made by `passagectl login` in these tests stay in one temporary folder per process.
inline const std::string& TestSessionDir() {
  static testing::TempDir dir;
  return dir.path();
}

inline CtlRun Ctl(std::vector<std::string> args, const std::string& input = "") {
  std::istringstream in(input);
  std::ostringstream out;
  std::ostringstream err;
  CtlIo io{in, out, err, false, false, "", TestSessionDir()};
  CtlRun r;
  r.code = RunPassagectl(args, io);
  r.out = out.str();
  r.err = err.str();
  return r;
}

}  // namespace passage::ctl
