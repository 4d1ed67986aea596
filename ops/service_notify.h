#pragma once

// Readiness and a one-line status for systemd (Type=notify units in deploy/systemd). Without
// $NOTIFY_SOCKET (not started by systemd) every call does nothing.

#include <string>

namespace passage::ops {

// READY=1 with a status line: the program does what it is for (the broker: log open, socket bound;
// a node: connected to the broker, or serving from its outbox after the grace period).
void NotifyReady(const std::string& status);
// STATUS=<line>, shown by `systemctl status`; sent only when it differs from the last one.
void NotifyStatus(const std::string& status);
// STOPPING=1.
void NotifyStopping();

}  // namespace passage::ops
