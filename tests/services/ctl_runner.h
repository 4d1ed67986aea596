#pragma once

// Runs passagectl in-process (RunPassagectl) with captured output, for the audit tests.

#include <sstream>
#include <string>
#include <vector>

#include "services/ctl/ctl.h"

namespace passage::ctl {

struct CtlRun {
  int code = -1;
  std::string out;
  std::string err;
};

inline CtlRun Ctl(std::vector<std::string> args) {
  std::istringstream in;
  std::ostringstream out;
  std::ostringstream err;
  CtlIo io{in, out, err, false, false, ""};
  CtlRun r;
  r.code = RunPassagectl(args, io);
  r.out = out.str();
  r.err = err.str();
  return r;
}

}  // namespace passage::ctl
