#include "common/daemon_process.h"

#include <pthread.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <exception>

namespace recorder {

int run_daemon(const std::string& name, const std::string& log_level,
               const std::function<int()>& body) {
  spdlog::set_default_logger(spdlog::stderr_color_mt(name));
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  try {
    return body();
  } catch (const CLI::Error& e) {
    spdlog::error("{}: {}", e.get_name(), e.what());
    return 2;
  } catch (const std::exception& e) {
    spdlog::error("fatal: {}", e.what());
    return 1;
  }
}

sigset_t block_daemon_signals(std::initializer_list<int> internal) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  for (int sig : internal) sigaddset(&signals, sig);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  return signals;
}

int wait_for_stop_signal(const sigset_t& signals) {
  int sig = 0;
  while (true) {
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig != SIGHUP) return sig;
    spdlog::info("SIGHUP ignored (nothing to reload)");
  }
}

std::string host_name_or(const std::string& fallback) {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return fallback;
  return buf;
}

}  // namespace recorder
