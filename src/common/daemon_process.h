// daemon_process: what recorderd and recorder-relay share as long-running processes, so that
// both log, fail and react to signals alike.
//
// - Logging: spdlog's default logger on stderr, one line per message, "<time> <level> <text>".
// - Fatal errors: main() runs its body through run_daemon(); a flag that fails a check
//   (CLI::Error, thrown while the body reads its flags) is logged and exits 2, any other
//   exception is logged and exits 1.
// - Signals: block_daemon_signals() before any thread starts, so that every thread inherits the
//   mask and only the main thread's wait_for_stop_signal() (sigwait) sees them: no work runs in
//   a signal handler. SIGHUP is logged and ignored (nothing to reload); SIGPIPE is ignored.
#pragma once

#include <signal.h>

#include <functional>
#include <initializer_list>
#include <string>

namespace recorder {

// Sets up logging for the binary `name` at `log_level` (a --log-level value), then runs `body`
// and returns its exit status, or 2 / 1 for an exception as said above.
int run_daemon(const std::string& name, const std::string& log_level,
               const std::function<int()>& body);

// Blocks SIGTERM, SIGINT, SIGHUP and `internal` (signals the binary sends itself) in the calling
// thread and ignores SIGPIPE; returns the blocked set, for sigwait().
sigset_t block_daemon_signals(std::initializer_list<int> internal = {});

// Waits for a signal of `signals` other than SIGHUP (logged and ignored) and returns it.
int wait_for_stop_signal(const sigset_t& signals);

// This machine's host name, or `fallback` when it has none.
std::string host_name_or(const std::string& fallback);

}  // namespace recorder
