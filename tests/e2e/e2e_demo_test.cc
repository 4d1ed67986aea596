// The demo itself (issue 4 §9): runs the real passage-demo binary — broker, router and eight agency
// nodes as processes — with a 180 s limit, and checks that it exits 0 and prints its three journeys
// (escalated shelter referral, prosecution to verdict, withdrawn consent) and "demo finished".

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>
#include <string>

#include <gtest/gtest.h>

#include "tests/core/suppression_check.h"
#include "tests/testing/temp_dir.h"

namespace {

struct RunResult {
  bool timed_out = false;
  int status = 0;
  std::string output;
  double seconds = 0;
};

// Runs argv in its own process group (so the demo's own children can be killed with it on a
// timeout), stdout and stderr captured together.
RunResult RunWithTimeout(std::vector<std::string> argv, int timeout_s) {
  RunResult res;
  int fds[2];
  if (pipe(fds) != 0) {
    res.status = -1;
    return res;
  }
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  setpgid(pid, pid);
  close(fds[1]);
  auto until = t0 + std::chrono::seconds(timeout_s);
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    until - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      res.timed_out = true;
      kill(-pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (n <= 0) continue;
    ssize_t got = read(fds[0], buf, sizeof(buf));
    if (got <= 0) break;  // EOF: the demo and everything it started closed the pipe
    res.output.append(buf, static_cast<size_t>(got));
  }
  close(fds[0]);
  waitpid(pid, &res.status, 0);
  if (res.timed_out) kill(-pid, SIGKILL);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

// The text of the section that starts with `title` (up to the next "\n== ").
std::string Section(const std::string& out, const std::string& title) {
  auto at = out.find(title);
  if (at == std::string::npos) return "";
  auto end = out.find("\n== ", at + title.size());
  return out.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// On failure: the tail of every process log the demo kept (it keeps its directory when it fails).
struct DumpLogsOnFailure {
  std::string dir;
  ~DumpLogsOnFailure() {
    if (!::testing::Test::HasFailure()) return;
    std::error_code ec;
    for (const auto& f : std::filesystem::directory_iterator(dir + "/logs", ec)) {
      std::ifstream in(f.path());
      std::stringstream ss;
      ss << in.rdbuf();
      std::string l = ss.str();
      if (l.size() > 3000) l = "..." + l.substr(l.size() - 3000);
      std::printf("---- %s ----\n%s\n", f.path().c_str(), l.c_str());
    }
  }
};

TEST(E2eDemo, RunsToCompletionAndPrintsThreeJourneys) {
  passage::testing::TempDir tmp;
  DumpLogsOnFailure dump{tmp.Sub("demo")};
  RunResult r = RunWithTimeout({PASSAGE_DEMO_BIN, "--dir", tmp.Sub("demo")}, 180);
  std::printf("passage-demo took %.1f s\n", r.seconds);
  auto tail = [&] {
    return r.output.size() > 6000 ? "..." + r.output.substr(r.output.size() - 6000) : r.output;
  };
  ASSERT_FALSE(r.timed_out) << "passage-demo ran over 180 s:\n" << tail();
  ASSERT_TRUE(WIFEXITED(r.status)) << "passage-demo died by a signal:\n" << tail();
  EXPECT_EQ(WEXITSTATUS(r.status), 0) << tail();
  EXPECT_NE(r.output.find("demo finished"), std::string::npos) << tail();
  // A note and a document written at the police reach the shelter that holds the case's notes.
  EXPECT_NE(r.output.find("dastak-shelter read them"), std::string::npos) << tail();

  struct Expect {
    const char* title;
    const char* must_contain;
  };
  const Expect journeys[] = {
      {"== journey: a declined shelter referral escalated to the next shelter", "follow-up of"},
      {"== journey: a prosecution through to verdict", "COMPLETED"},
      {"== journey: consent withdrawn: live referrals cancelled", "withdrew consent"},
  };
  for (const auto& j : journeys) {
    SCOPED_TRACE(j.title);
    std::string s = Section(r.output, j.title);
    ASSERT_FALSE(s.empty()) << "missing journey:\n" << tail();
    EXPECT_EQ(s.find("no such case in this run"), std::string::npos) << s;
    EXPECT_NE(s.find("Timeline"), std::string::npos) << s;
    EXPECT_NE(s.find(j.must_contain), std::string::npos) << s;
  }

  // The state's report agrees with what the police and the FIA recorded, as the demo counted it
  // when each record was acknowledged.
  int offences = 0, suspects = 0, convicted = 0;
  const auto said = r.output.find("-- police and FIA registered ");
  ASSERT_NE(said, std::string::npos) << tail();
  ASSERT_EQ(std::sscanf(r.output.c_str() + said,
                        "-- police and FIA registered %d offence(s) with %d suspect(s)", &offences,
                        &suspects),
            2);
  const auto conv = r.output.find(" convicted;", said);
  ASSERT_NE(conv, std::string::npos);
  const auto semi = r.output.rfind("; ", conv);
  convicted = std::atoi(r.output.c_str() + semi + 2);
  ASSERT_GE(offences, 5);
  ASSERT_GE(convicted, 5) << "the demo should take enough accused to conviction to show them";
  const std::string report = Section(r.output, "== the state's report: GLOTIP tables");
  ASSERT_FALSE(report.empty()) << tail();
  auto row_total = [&](const std::string& title, const std::string& row) {
    const auto at = report.find(title);
    EXPECT_NE(at, std::string::npos) << title << "\n" << report;
    const auto line = report.find("\n" + row + " ", at);
    if (at == std::string::npos || line == std::string::npos) return -1;
    const auto end = report.find('\n', line + 1);
    const std::string text = report.substr(line + 1, end - line - 1);
    return std::atoi(text.c_str() + text.find_last_of(' ') + 1);
  };
  EXPECT_EQ(row_total("Offences recorded by province and crime type", "total"), offences);
  EXPECT_EQ(row_total("by stage, national or foreign", "FORMAL_CONTACT"), suspects);
  EXPECT_EQ(row_total("by stage, national or foreign", "CONVICTED"), convicted);
  EXPECT_NE(report.find("source: offence records of"), std::string::npos) << report;
  EXPECT_NE(report.find("Victims detected by form of exploitation and sex"), std::string::npos);
  const std::string routes = Section(r.output, "== smuggling of migrants");
  EXPECT_NE(routes.find("PK > IR > TR > GR"), std::string::npos) << routes;

  // Issue #16 item 8: from the printed sex x age band table alone, no suppressed number can be
  // narrowed to one value (the demo once printed a MALE row 0 + 0 + 5 + 6 + 5 + 18 = 34 whose
  // four hidden cells had to be 0).
  const std::string by_sex = Section(r.output, "== cases by sex and age band");
  const auto table = passage::core::testing::ParseCrossTab(by_sex, 5);
  ASSERT_TRUE(table.has_value()) << by_sex;
  int secondary = 0;
  for (const auto& c : table->cells) secondary += c.secondary ? 1 : 0;
  for (const auto& m : table->margins) {
    for (const auto& c : m.cells) secondary += c.secondary ? 1 : 0;
  }
  for (const auto& range : passage::core::testing::FeasibleRanges(*table, secondary <= 10)) {
    EXPECT_LT(range.low, range.high) << range.where << " is given away:\n" << by_sex;
  }
}

}  // namespace
