// grpc_idle_floor: recorderd's gRPC server without the daemon: no recorder, no BPF, no
// recordings. What gRPC 1.51 alone costs when nothing happens, measured next to recorderd by the
// idle part of bench/daemon/side_by_side.sh (docs/benchmarks.md).
//
//   grpc_idle_floor SOCKET_PATH    serves on unix:SOCKET_PATH until SIGTERM or SIGINT, exit 0
//
// Built as recorderd builds its API server: the same builder (service/api_server_builder.h: its
// options, server reflection, no default health service), our sync health service, signals
// blocked in every thread and taken by sigwait() (common/daemon_process.h). recorderd's other
// sync services (Recordings, Rings) run on the same sync server; its async Record service's
// completion queue is left out: its thread (`record-cq`) sleeps with no deadline when nothing
// happens (docs/architecture.md, "What wakes the daemon").
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "common/daemon_process.h"
#include "service/api_server_builder.h"
#include "service/health_service.h"

int main(int argc, char** argv) {
  if (argc != 2 || argv[1][0] == '-') {
    std::fprintf(stderr, "usage: grpc_idle_floor SOCKET_PATH\n");
    return 2;
  }
  const std::string socket = argv[1];
  return recorder::run_daemon("grpc_idle_floor", "info", [&] {
    const sigset_t signals = recorder::block_daemon_signals();
    recorder::service::HealthService health;
    auto builder = recorder::service::api_server_builder();
    builder->AddListeningPort("unix:" + socket, grpc::InsecureServerCredentials());
    builder->RegisterService(&health);
    std::unique_ptr<grpc::Server> server = builder->BuildAndStart();
    if (!server) {
      spdlog::error("serve on unix:{}: bind failed (gRPC says why above)", socket);
      return 1;
    }
    spdlog::info("listening on unix:{}", socket);
    const int sig = recorder::wait_for_stop_signal(signals);
    spdlog::info("signal {}: shutting down", sig);
    health.shutdown();
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server->Wait();
    std::error_code ec;
    std::filesystem::remove(socket, ec);
    return 0;
  });
}
