#pragma once

// Test harness: runs the real passage-broker binary on loopback with a registry of test agencies,
// each with a fresh CURVE key pair, in a temp directory; can SIGKILL and restart it on the same port.

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "passage/v1/config.pb.h"
#include "services/runtime/client.h"
#include "services/runtime/local_store.h"
#include "transport/keys.h"

namespace passage::testing {

struct TestAgency {
  std::string id;
  passage::v1::AgencyType type = passage::v1::AGENCY_TYPE_NGO;
  bool first_responder = false;
  bool system_principal = false;
  std::vector<passage::v1::ServiceType> services;
  std::vector<passage::v1::ActorRole> override_roles;
};

class BrokerProcess {
 public:
  BrokerProcess(std::string dir, std::vector<TestAgency> agencies, std::vector<std::string> extra_args = {})
      : dir_(std::move(dir)), extra_args_(std::move(extra_args)) {
    std::filesystem::create_directories(dir_);
    broker_keys_ = transport::GenerateCurveKeyPair();
    (void)transport::WriteKeyFile(dir_ + "/broker.key", broker_keys_);
    passage::v1::AgencyRegistry reg;
    for (const auto& a : agencies) {
      auto keys = transport::GenerateCurveKeyPair();
      keys_[a.id] = keys;
      auto* e = reg.add_agencies();
      e->set_id(a.id);
      e->set_name("Test agency " + a.id);
      e->set_type(a.type);
      e->set_region("PK-SD");
      e->set_first_responder(a.first_responder);
      e->set_system_principal(a.system_principal);
      for (auto s : a.services) {
        e->add_services(s);
      }
      for (auto r : a.override_roles) {
        e->add_override_roles(r);
      }
      e->set_transport_public_key(keys.public_z85);
    }
    std::ofstream(dir_ + "/registry.textproto") << reg.DebugString();
  }

  ~BrokerProcess() { Kill(); }

  // Starts the broker and waits until it serves. The first start picks a free port; restarts reuse it.
  bool Start() {
    std::string listen = endpoint_.empty() ? "tcp://127.0.0.1:0" : endpoint_;
    std::string ep_file = dir_ + "/endpoint";
    std::filesystem::remove(ep_file);
    std::vector<std::string> args = {PASSAGE_BROKER_BIN, "--data-dir", dir_ + "/data", "--registry",
                                     dir_ + "/registry.textproto", "--key-file", dir_ + "/broker.key",
                                     "--listen", listen, "--endpoint-file", ep_file};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    pid_ = fork();
    if (pid_ == 0) {
      // A test that aborts (a failed assertion in a library, say) must not leave its broker
      // running: the child dies with the thread that started it.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      std::string log = dir_ + "/broker.log";
      FILE* f = std::freopen(log.c_str(), "a", stderr);
      (void)f;
      std::freopen(log.c_str(), "a", stdout);
      std::vector<char*> argv;
      for (auto& a : args) {
        argv.push_back(a.data());
      }
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    for (int i = 0; i < 300; ++i) {
      std::ifstream in(ep_file);
      std::string ep;
      if (in >> ep) {
        endpoint_ = ep;
        return true;
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  void Kill() { Signal(SIGKILL); }
  void Stop() { Signal(SIGTERM); }
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // True while the process started last has not exited (reaps it if it has).
  bool Alive() {
    if (pid_ <= 0) {
      return false;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }

  const std::string& endpoint() const { return endpoint_; }
  const std::string& dir() const { return dir_; }
  std::string log_dir() const { return dir_ + "/data/log"; }
  const transport::CurveKeyPair& keys(const std::string& agency) { return keys_[agency]; }
  const transport::CurveKeyPair& broker_keys() const { return broker_keys_; }
  std::string BrokerLog() const {
    std::ifstream in(dir_ + "/broker.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  runtime::ClientOptions ClientOptionsFor(const std::string& agency, runtime::LocalStore* store) {
    runtime::ClientOptions o;
    o.endpoint = endpoint_;
    o.broker_public_z85 = broker_keys_.public_z85;
    o.public_z85 = keys_[agency].public_z85;
    o.secret_z85 = keys_[agency].secret_z85;
    o.agency_id = agency;
    o.store = store;
    o.resend_after_ms = 1000;
    o.liveness_ms = 2000;
    return o;
  }

 private:
  void Signal(int sig) {
    if (pid_ <= 0) {
      return;
    }
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::string dir_;
  std::vector<std::string> extra_args_;
  std::string endpoint_;
  pid_t pid_ = -1;
  transport::CurveKeyPair broker_keys_;
  std::map<std::string, transport::CurveKeyPair> keys_;
};

}  // namespace passage::testing
