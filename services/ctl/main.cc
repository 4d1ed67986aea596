// passagectl: the command-line tool for people and scripts (docs/passagectl.md).

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "services/ctl/ctl.h"

int main(int argc, char** argv) {
  const char* node = std::getenv("PASSAGE_NODE");
  const char* session_dir = std::getenv("PASSAGE_SESSION_DIR");
  const char* home = std::getenv("HOME");
  std::string sessions = session_dir != nullptr && *session_dir != '\0'
                             ? session_dir
                             : std::string(home != nullptr ? home : ".") + "/.passage/sessions";
  passage::ctl::CtlIo io{std::cin,
                         std::cout,
                         std::cerr,
                         ::isatty(STDIN_FILENO) == 1,
                         ::isatty(STDERR_FILENO) == 1,
                         node != nullptr ? node : "",
                         sessions};
  return passage::ctl::RunPassagectl(std::vector<std::string>(argv + 1, argv + argc), io);
}
