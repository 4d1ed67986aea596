#pragma once
// The entry point every fuzz target in tests/fuzz defines, libFuzzer's contract: called once per
// input, must not keep state that changes the next call's outcome, returns 0. A target aborts
// (a failed PASSAGE_FUZZ_CHECK, a sanitizer report) when it finds a defect; an input the code
// under test refuses is not a defect.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

// An invariant of the code under test; false aborts, which libFuzzer reports as a crash.
#define PASSAGE_FUZZ_CHECK(cond, what)                                                   \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: invariant broken: %s (%s)\n", __FILE__, __LINE__, #cond, \
                   what);                                                                \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)
