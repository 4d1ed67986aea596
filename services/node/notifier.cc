#include "services/node/notifier.h"

#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>

#include <chrono>

#include "core/codes.h"

extern char** environ;

namespace passage::node {
namespace {

namespace v1 = passage::v1;

constexpr int64_t kDayMs = 24 * 3'600'000LL;
constexpr int64_t kTimeoutMs = 10'000;

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Notifier::Notifier(std::string command, runtime::LocalStore* store, std::string agency)
    : command_(std::move(command)), store_(store), agency_(std::move(agency)) {}

Notifier::~Notifier() {
  for (const auto& r : running_) {
    int st = 0;
    if (waitpid(r.pid, &st, WNOHANG) == 0) {
      kill(r.pid, SIGKILL);
      waitpid(r.pid, &st, 0);
    }
  }
}

const char* NextNotice(const v1::Referral& r, const std::string& agency, int64_t now_ms,
                       const runtime::LocalStore& store, const std::string& prefix,
                       runtime::StateWrite* w) {
  if (r.to_agency() != agency ||
      (r.status() != v1::REFERRAL_STATUS_SENT && r.status() != v1::REFERRAL_STATUS_RECEIVED)) {
    return nullptr;
  }
  const bool overdue = r.respond_by_ms() != 0 && r.respond_by_ms() < now_ms;
  const bool due_soon = r.respond_by_ms() != 0 && r.respond_by_ms() < now_ms + kDayMs;
  const std::string base = prefix + r.referral_id() + "/";
  auto seen = store.Get(base + "new_referral");
  if (!seen.ok()) {
    return nullptr;
  }
  // The first notice is new_referral (its respond-by says how urgent), or overdue when the
  // referral is first seen past its time; due_soon only for one that was not due within a day
  // when it arrived; overdue once.
  if (!seen->has_value()) {
    w->Put(base + "new_referral", std::to_string(now_ms));
    if (due_soon) w->Put(base + "due_soon", std::to_string(now_ms));
    if (overdue) w->Put(base + "overdue", std::to_string(now_ms));
    return overdue ? "overdue" : "new_referral";
  }
  const char* next = overdue ? "overdue" : due_soon ? "due_soon" : nullptr;
  if (next == nullptr) {
    return nullptr;
  }
  auto done = store.Get(base + next);
  if (!done.ok() || done->has_value()) {
    return nullptr;
  }
  w->Put(base + next, std::to_string(now_ms));
  if (overdue) w->Put(base + "due_soon", std::to_string(now_ms));
  return next;
}

void Notifier::Check(const std::vector<v1::Referral>& inbox, int64_t now_ms) {
  Reap(SteadyMs());
  for (const auto& r : inbox) {
    runtime::StateWrite w;
    const char* event = NextNotice(r, agency_, now_ms, *store_, "notify/", &w);
    if (event == nullptr) {
      continue;
    }
    if (Status s = store_->Write(w); !s.ok()) {
      spdlog::warn("{}: notification of {} not recorded: {}", agency_, r.referral_id(), s.ToString());
      continue;
    }
    Start(event, r);
  }
}

void Notifier::Start(const std::string& event, const v1::Referral& r) {
  std::vector<std::string> args = {
      command_,
      event,
      r.referral_id(),
      r.case_reference().empty() ? r.case_id() : r.case_reference(),
      core::ShortEnumName(v1::ServiceType_descriptor(), r.service()),
      core::ShortEnumName(v1::Priority_descriptor(), r.priority()),
      r.respond_by_ms() != 0 ? core::FormatUtcMs(r.respond_by_ms()) : std::string("-")};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, command_.c_str(), nullptr, nullptr, argv.data(), environ);
  if (rc != 0) {
    spdlog::warn("{}: notify command {} could not start: {}", agency_, command_, strerror(rc));
    return;
  }
  running_.push_back({pid, SteadyMs(), event + " " + r.referral_id()});
}

void Notifier::Reap(int64_t now) {
  for (auto it = running_.begin(); it != running_.end();) {
    int st = 0;
    const pid_t done = waitpid(it->pid, &st, WNOHANG);
    if (done == it->pid) {
      if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        spdlog::warn("{}: notify command for {} ended with status {}", agency_, it->what, st);
      }
      it = running_.erase(it);
      continue;
    }
    if (now - it->started_ms > kTimeoutMs) {
      spdlog::warn("{}: notify command for {} ran over 10 s and was stopped", agency_, it->what);
      kill(it->pid, SIGKILL);
      waitpid(it->pid, &st, 0);
      it = running_.erase(it);
      continue;
    }
    ++it;
  }
}

}  // namespace passage::node
