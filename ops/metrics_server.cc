#include "ops/metrics_server.h"

#include <httplib.h>

#include <thread>

namespace passage::ops {

struct MetricsServer::Impl {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  const MetricsRegistry* registry = nullptr;
  mutable std::mutex mu;
  std::string not_ready = "starting";  // GUARDED_BY(mu)
};

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() {
  impl_->server.stop();
  if (impl_->thread.joinable()) {
    impl_->thread.join();
  }
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& listen,
                                                            const MetricsRegistry* registry) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Status::InvalidArgument("metrics_listen", "'" + listen + "' is not HOST:PORT");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = 0;
  try {
    size_t used = 0;
    port = std::stoi(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1 || port < 0 || port > 65535) {
      throw std::out_of_range("port");
    }
  } catch (const std::exception&) {
    return Status::InvalidArgument("metrics_listen",
                                   "'" + listen.substr(colon + 1) + "' is not a port number");
  }
  auto impl = std::make_unique<Impl>();
  impl->registry = registry;
  Impl* self = impl.get();
  impl->server.Get("/metrics", [self](const httplib::Request&, httplib::Response& res) {
    res.set_content(self->registry->Render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  impl->server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain; charset=utf-8");
  });
  impl->server.Get("/readyz", [self](const httplib::Request&, httplib::Response& res) {
    std::string why;
    {
      std::lock_guard lock(self->mu);
      why = self->not_ready;
    }
    if (why.empty()) {
      res.set_content("ready\n", "text/plain; charset=utf-8");
    } else {
      res.status = 503;
      res.set_content("not ready: " + why + "\n", "text/plain; charset=utf-8");
    }
  });
  impl->server.set_keep_alive_max_count(10);
  impl->server.set_read_timeout(5, 0);
  if (port == 0) {
    impl->port = impl->server.bind_to_any_port(host);
  } else {
    impl->port = impl->server.bind_to_port(host, port) ? port : -1;
  }
  if (impl->port <= 0) {
    return Status::Unavailable("metrics_listen: cannot listen on " + listen +
                               " (address in use, or not an address of this machine)");
  }
  impl->thread = std::thread([self] { self->server.listen_after_bind(); });
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

int MetricsServer::port() const { return impl_->port; }

void MetricsServer::SetNotReady(std::string reason) {
  std::lock_guard lock(impl_->mu);
  impl_->not_ready = std::move(reason);
}

std::string MetricsServer::not_ready() const {
  std::lock_guard lock(impl_->mu);
  return impl_->not_ready;
}

}  // namespace passage::ops
