// inbox_bench: the web workspace's inbox page against `passagectl --json inbox` for the same
// referrals, in one run (docs/web.md, "Small and fast").
//
// Starts a real NRM on loopback (broker, router, a first responder and a shelter, as the e2e
// tests do), records N cases (default 10,000) that the router refers to the shelter, waits until
// the shelter's node holds all N referrals, then alternates, R times each (default 15):
//   A: the inbox the way passagectl --json inbox asks for it (one control request, the whole
//      inbox as JSON), and
//   B: GET / (the first page) and GET /?page=100 over HTTP with a signed-in session: the page as a
//      browser gets it, sign-in check and counts included.
// Prints the medians and the ratios B/A. The bar: B at most 2x A.
//
// Usage: inbox_bench [--cases N] [--rounds R]

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tests/e2e/nrm_harness.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace e2e = passage::e2e;
namespace v1 = passage::v1;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

int Run(int cases, int rounds) {
  e2e::NrmOptions o;
  o.http = true;
  o.tick_ms = 500;
  e2e::Nrm nrm({e2e::FirstResponder("fia-karachi"),
                e2e::Protection("shelter-a", v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER},
                                0, /*auto_accept=*/false)},
               e2e::WomenToShelterRules(), o);
  if (!nrm.Start()) {
    std::fprintf(stderr, "inbox_bench: the NRM did not start\n");
    return 1;
  }
  const auto t0 = Clock::now();
  for (int i = 0; i < cases; ++i) {
    v1::IntakeRequest in = e2e::AdultWomanSexuallyExploited(false, 18 + i % 40);
    in.clear_personal();
    auto c = nrm.Intake("fia-karachi", in);
    if (!c.ok()) {
      std::fprintf(stderr, "inbox_bench: intake %d: %s\n", i, c.status().ToString().c_str());
      return 1;
    }
    if ((i + 1) % 1000 == 0) {
      std::fprintf(stderr, "inbox_bench: %d cases recorded (%.0f s)\n", i + 1,
                   Ms(t0, Clock::now()) / 1000);
    }
  }
  v1::ControlRequest whole;
  whole.set_json(true);
  whole.mutable_inbox()->set_include_closed(true);
  for (;;) {
    auto r = nrm.Call("shelter-a", whole);
    size_t n = 0;
    if (r.ok()) {
      for (size_t at = r->json().find("\"referral_id\""); at != std::string::npos;
           at = r->json().find("\"referral_id\"", at + 1)) {
        ++n;
      }
    }
    if (n >= static_cast<size_t>(cases)) break;
    if (Ms(t0, Clock::now()) > 3'600'000) {
      std::fprintf(stderr, "inbox_bench: the shelter holds %zu of %d referrals after an hour\n", n,
                   cases);
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  std::fprintf(stderr, "inbox_bench: the shelter holds %d referrals (%.0f s)\n", cases,
               Ms(t0, Clock::now()) / 1000);
  auto token = nrm.DeskSession("shelter-a");
  if (!token.ok()) return 1;
  httplib::Client http("127.0.0.1", nrm.HttpPort("shelter-a"));
  http.set_read_timeout(60, 0);
  const httplib::Headers cookie = {{"Cookie", "psg_session=" + *token}};
  std::vector<double> a, b_first, b_later;
  size_t json_bytes = 0, page_bytes = 0;
  for (int r = 0; r < rounds; ++r) {
    auto s = Clock::now();
    auto ctl = nrm.Call("shelter-a", whole);
    a.push_back(Ms(s, Clock::now()));
    if (!ctl.ok() || ctl->code() != v1::CONTROL_CODE_OK) return 1;
    json_bytes = ctl->json().size();
    s = Clock::now();
    auto page = http.Get("/?all=1", cookie);
    b_first.push_back(Ms(s, Clock::now()));
    if (!page || page->status != 200) {
      std::fprintf(stderr, "inbox_bench: GET / answered %d\n", page ? page->status : -1);
      return 1;
    }
    page_bytes = page->body.size();
    s = Clock::now();
    auto later = http.Get("/?all=1&page=100", cookie);
    b_later.push_back(Ms(s, Clock::now()));
    if (!later || later->status != 200) return 1;
  }
  const double ma = Median(a), mb = Median(b_first), ml = Median(b_later);
  std::printf("inbox of %d referrals, %d rounds, medians:\n", cases, rounds);
  std::printf("  A  passagectl --json inbox (control request)  %8.1f ms  (%zu bytes of JSON)\n", ma,
              json_bytes);
  std::printf("  B  GET / (first page, 50 rows)               %8.1f ms  (%zu bytes of HTML)\n", mb,
              page_bytes);
  std::printf("  B' GET /?page=100                            %8.1f ms\n", ml);
  std::printf("  ratio B/A %.2f, B'/A %.2f (bar: at most 2.00)\n", mb / ma, ml / ma);
  return mb <= 2 * ma && ml <= 2 * ma ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  int cases = 10000, rounds = 15;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--cases") == 0) cases = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::atoi(argv[i + 1]);
  }
  return Run(std::max(1, cases), std::max(1, rounds));
}
