#include "ops/service_notify.h"

#include <systemd/sd-daemon.h>

#include <mutex>

namespace passage::ops {
namespace {

std::mutex g_mu;
std::string g_last_status;  // GUARDED_BY(g_mu)

std::string OneLine(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') {
      c = ' ';
    }
  }
  return s;
}

}  // namespace

void NotifyReady(const std::string& status) {
  std::lock_guard lock(g_mu);
  g_last_status = OneLine(status);
  (void)sd_notifyf(0, "READY=1\nSTATUS=%s", g_last_status.c_str());
}

void NotifyStatus(const std::string& status) {
  std::lock_guard lock(g_mu);
  std::string line = OneLine(status);
  if (line == g_last_status) {
    return;
  }
  g_last_status = line;
  (void)sd_notifyf(0, "STATUS=%s", line.c_str());
}

void NotifyStopping() { (void)sd_notify(0, "STOPPING=1"); }

}  // namespace passage::ops
