// recorderd: the pcap-recorder node daemon.
//
// Wires the parts together: the packet source (the eBPF Datapath, or a pcap replay with
// --replay), the RecordingManager (dispatch, sinks, writer pool, storage), and the gRPC server
// (unix socket, optional TCP+TLS). Signals are handled by sigwait() on the main thread (every
// thread blocks them), so no work runs in a signal handler. SIGTERM/SIGINT shut down gracefully:
// every recording is stopped with reason "daemon shutdown" and a complete file, Record streams
// get their `stopped`, the tc filters are detached (Datapath destructor), exit 0. A second
// SIGTERM/SIGINT during that exits at once (status 2).
#include <grp.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/daemon_process.h"
#include "daemon/json_config.h"
#include "dispatch/replay_source.h"
#include "metrics/metrics_server.h"
#include "metrics/node_metrics.h"
#include "ring/ring_manager.h"
#include "service/health_server.h"
#include "service/recording_manager.h"
#include "service/ring_flags.h"
#include "service/ring_validation.h"
#include "service/server.h"
#include "service/units.h"
#include "sink/recovery.h"
#include "sink/sink.h"
#include "storage/directory.h"

#ifdef RECORDER_HAVE_DATAPATH
#include "daemon/capture_counters.h"
#include "datapath/datapath.h"
#endif

namespace {
using namespace recorder;

struct Flags {
  std::string storage_path = "/var/lib/pcap-recorder";
  std::string file_group;
  std::string socket = "/run/pcap-recorder/recorder.sock";
  std::vector<std::string> interfaces;
  std::string node_name;
  std::string listen;
  std::string metrics_listen;
  std::string health_listen;
  std::string tls_cert, tls_key, tls_client_ca;
  size_t max_recordings = service::ServiceLimits{}.max_recordings;
  size_t max_filters = service::ServiceLimits{}.max_filters;
  uint32_t max_snap_length = service::ServiceLimits{}.max_snap_length;
  std::string queue_memory = "1GiB";
  std::string queue_per_recording = "16MiB";
  std::string min_free_disk = "64MiB";
  std::string retain_max_age = "0";
  std::string retain_max_bytes = "0";
  uint64_t retain_max_count = 0;
  std::string transport = "auto";
  std::string attach = "auto";
  std::string replay;
  bool replay_loop = false;
  double replay_rate = 0;
  size_t replay_start_after = 1;
  bool replay_retime = false;
  unsigned writer_threads = 1;
  bool no_io_uring = false;
  std::string log_level = "info";
  std::string write_timeout = "30s";
  std::vector<std::string> rings;  // JSON objects (ring_flags.h)
};

// Waits until `wanted` recordings run, then runs `inner`: with --replay, the file would
// otherwise be replayed before anyone records.
class GatedSource final : public PacketSource {
 public:
  GatedSource(std::unique_ptr<PacketSource> inner, service::RecordingManager& manager,
              size_t wanted)
      : inner_(std::move(inner)), manager_(manager), wanted_(wanted) {}
  std::string describe() const override { return inner_->describe(); }
  Status run(PacketConsumer& consumer, const std::atomic<bool>& stop) override {
    if (wanted_ > 0) {
      spdlog::info("replay starts once {} recording(s) run", wanted_);
      while (!stop.load() && manager_.running_count() < wanted_) {
        consumer.on_batch_end();  // keep the dispatcher's quiescent point moving
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      if (stop.load()) return ok_status();
      spdlog::info("replay starting: {} recording(s) running", manager_.running_count());
    }
    return inner_->run(consumer, stop);
  }
  void wake() noexcept override { inner_->wake(); }

 private:
  std::unique_ptr<PacketSource> inner_;
  service::RecordingManager& manager_;
  size_t wanted_;
};

int run(const Flags& flags) {
  // Internal: SIGUSR1, the packet source failed; SIGUSR2, the graceful shutdown is done.
  const sigset_t signals = block_daemon_signals({SIGUSR1, SIGUSR2});

  service::ServiceLimits limits;
  limits.max_recordings = flags.max_recordings;
  limits.max_filters = flags.max_filters;
  limits.max_snap_length = flags.max_snap_length;
  auto parse_size_flag = [](const std::string& name, const std::string& text) -> uint64_t {
    auto v = service::parse_size(text);
    if (!v) throw CLI::ValidationError("--" + name, v.error().message());
    return *v;
  };
  limits.queue_memory = parse_size_flag("queue-memory", flags.queue_memory);
  limits.queue_bytes_per_recording =
      parse_size_flag("queue-per-recording", flags.queue_per_recording);
  if (limits.queue_bytes_per_recording < sink::kMinQueueBytes) {
    throw CLI::ValidationError("--queue-per-recording",
                               fmt::format("{} bytes is below the minimum of {} bytes",
                                           limits.queue_bytes_per_recording, sink::kMinQueueBytes));
  }
  limits.min_free_disk = parse_size_flag("min-free-disk", flags.min_free_disk);

  // Rings of the config file: checked before anything starts, like every other flag.
  std::vector<ring::RingSpec> rings;
  for (size_t i = 0; i < flags.rings.size(); ++i) {
    const std::string field = fmt::format("--ring #{}", i + 1);
    auto ring_flags = service::ring_flags_from_json(flags.rings[i]);
    if (!ring_flags) throw CLI::ValidationError(field, ring_flags.error().message());
    auto config = service::ring_config(*ring_flags);
    if (!config) throw CLI::ValidationError(field, config.error().message());
    std::vector<std::string> notes;
    auto spec = service::validate_ring(*config, limits, "", notes);
    if (!spec) throw CLI::ValidationError(field, spec.error().message());
    rings.push_back(std::move(*spec));
  }

  service::RetentionPolicy retention;
  if (auto age = service::parse_duration(flags.retain_max_age); age) {
    retention.max_age = *age;
  } else {
    throw CLI::ValidationError("--retain-max-age", age.error().message());
  }
  retention.max_bytes = parse_size_flag("retain-max-bytes", flags.retain_max_bytes);
  retention.max_count = flags.retain_max_count;
  if (retention.enabled()) {
    spdlog::info(
        "retention of finished recordings: max age {}, max bytes {}, max count {} "
        "(0 = no limit)",
        service::format_duration(retention.max_age), service::format_size(retention.max_bytes),
        retention.max_count);
  }

  if (!flags.metrics_listen.empty()) {
    if (auto s = metrics::check_listen_address(flags.metrics_listen); !s) {
      throw CLI::ValidationError("--metrics-listen", s.error().message());
    }
  }

  std::string node = flags.node_name.empty() ? host_name_or("localhost") : flags.node_name;

  service::ManagerOptions options;
  options.storage_path = flags.storage_path;
  if (!flags.file_group.empty()) {
    auto gid = storage::group_id(flags.file_group);
    if (!gid) throw CLI::ValidationError("--file-group", gid.error().message());
    options.permissions = storage::Permissions::readable_by_group(*gid);
  }
  options.node_name = node;
  options.limits = limits;
  options.retention = retention;
  options.writer_threads = flags.writer_threads;
  options.use_io_uring = !flags.no_io_uring;
  {
    auto timeout = service::parse_duration(flags.write_timeout);
    if (!timeout) throw CLI::ValidationError("--write-timeout", timeout.error().message());
    if (timeout->count() <= 0) {
      throw CLI::ValidationError("--write-timeout", "must be longer than 0");
    }
    options.write_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*timeout);
  }
  options.recover_partial_files = [](const std::filesystem::path& dir) {
    std::vector<std::string> lines;
    auto recovered = sink::recover_partial_files(dir);
    if (!recovered) {
      lines.push_back("partial-file recovery failed: " + recovered.error().message());
      return lines;
    }
    for (const auto& r : *recovered) {
      if (r.refused) {
        lines.push_back(
            fmt::format("partial file {} left alone: {}", r.partial_path.string(), r.reason));
      } else if (r.corrupt) {
        lines.push_back(fmt::format("recovered partial file {}: unreadable ({}), kept as {}",
                                    r.partial_path.string(), r.reason, r.final_path.string()));
      } else {
        lines.push_back(fmt::format(
            "recovered partial file {} -> {}: {} packets kept, {} trailing bytes cut",
            r.partial_path.string(), r.final_path.string(), r.packets_kept, r.bytes_cut));
      }
    }
    return lines;
  };

  std::unique_ptr<PacketSource> source;
  std::atomic<service::RecordingManager*> manager_ready{nullptr};
#ifdef RECORDER_HAVE_DATAPATH
  std::unique_ptr<datapath::Datapath> datapath;
#endif
  if (!flags.replay.empty()) {
    ReplayOptions replay;
    replay.path = flags.replay;
    replay.loop = flags.replay_loop;
    replay.packets_per_second = flags.replay_rate;
    replay.retime = flags.replay_retime;
    auto opened = ReplaySource::open(replay);
    if (!opened) {
      spdlog::error("{}", opened.error().message());
      return 1;
    }
    source = std::move(*opened);
  } else {
#ifdef RECORDER_HAVE_DATAPATH
    datapath::Options dp;
    dp.interfaces = flags.interfaces;
    // The manager exists only after the datapath (it installs the datapath's rules); the reader
    // thread, the only caller, starts after both and is joined before the manager goes.
    dp.interfaces_changed = [&manager_ready] {
      if (auto* m = manager_ready.load()) m->interfaces_changed();
    };
    if (flags.transport == "perf")
      dp.transport = datapath::Transport::kPerfBuffer;
    else if (flags.transport == "ring")
      dp.transport = datapath::Transport::kRingBuffer;
    else
      dp.transport = datapath::Transport::kAuto;
    if (flags.attach == "tcx")
      dp.attach_mode = datapath::AttachMode::kTcx;
    else if (flags.attach == "clsact")
      dp.attach_mode = datapath::AttachMode::kClsact;
    else
      dp.attach_mode = datapath::AttachMode::kAuto;
    auto opened = datapath::Datapath::open(dp);
    if (!opened) {
      spdlog::error("eBPF datapath: {}", opened.error().message());
      return 1;
    }
    datapath = std::move(*opened);
    for (const auto& itf : datapath->attached_interfaces()) {
      spdlog::info("attached to interface {} (ifindex {})", itf.name, itf.ifindex);
    }
    spdlog::info("datapath transport: {}", datapath->transport_name());
    options.kernel_rules = datapath.get();
    datapath::Datapath* dp_ptr = datapath.get();
    options.attached_interface_count = [dp_ptr] { return dp_ptr->attached_interfaces().size(); };
    options.take_kernel_losses = [dp_ptr] {
      std::vector<service::KernelLossEntry> out;
      for (const auto& loss : dp_ptr->take_kernel_losses()) {
        out.push_back({loss.recording_id, loss.packets, loss.bytes});
      }
      return out;
    };
#else
    spdlog::error("this recorderd was built without the eBPF datapath; use --replay FILE");
    return 1;
#endif
  }

  const storage::Permissions options_permissions = options.permissions;
  auto manager = service::RecordingManager::create(std::move(options));
  if (!manager) {
    spdlog::error("{}", manager.error().message());
    return 1;
  }
  manager_ready.store(manager->get());
  ring::RingManagerOptions ring_options;
  ring_options.path = (*manager)->storage_path() / "rings";
  ring_options.ring.permissions = options_permissions;
  ring_options.ring.queue_bytes = limits.queue_bytes_per_recording;
  ring_options.ring.min_free_disk = limits.min_free_disk;
  auto ring_manager = ring::RingManager::create(ring_options, **manager);
  if (!ring_manager) {
    spdlog::error("{}", ring_manager.error().message());
    return 1;
  }
  for (const auto& spec : rings) {
    auto declared = (*ring_manager)->declare(spec);
    if (!declared) {
      spdlog::error("ring {} of the configuration: {}", spec.name, declared.error().message());
    } else {
      spdlog::info("ring {} of the configuration runs", spec.name);
    }
  }

  service::ServerOptions server_options;
  server_options.rings = ring_manager->get();
  server_options.ring_recordings = manager->get();
  server_options.socket_path = flags.socket;
  server_options.listen = flags.listen;
  server_options.tls_cert_file = flags.tls_cert;
  server_options.tls_key_file = flags.tls_key;
  server_options.tls_client_ca_file = flags.tls_client_ca;
#ifdef RECORDER_HAVE_DATAPATH
  if (datapath) {
    server_options.capture_health = [dp = datapath.get()](pb::CaptureHealth* out) {
      const datapath::DatapathHealth h = dp->health();
      for (const auto& u : h.unclassified) {
        auto* e = out->add_unclassified();
        e->set_interface(u.interface);
        e->set_ifindex(static_cast<uint32_t>(u.ifindex));
        e->set_direction(u.direction == Direction::kIngress ? "ingress" : "egress");
        e->set_packets(u.packets);
        e->set_bytes(u.bytes);
      }
      out->set_malformed_samples(h.malformed_samples);
      out->set_lost_samples(h.lost_samples);
    };
  }
#endif
  auto server = service::Server::start(**manager, limits, server_options);
  if (!server) {
    spdlog::error("{}", server.error().message());
    return 1;
  }

  // Read at every scrape, nothing in between; destroyed before the manager it reads.
  std::unique_ptr<metrics::MetricsServer> metrics_server;
  if (!flags.metrics_listen.empty()) {
    std::function<metrics::CaptureCounters()> capture;
#ifdef RECORDER_HAVE_DATAPATH
    if (datapath) capture = [dp = datapath.get()] { return daemon::capture_counters(*dp); };
#endif
    auto started = metrics::MetricsServer::start(
        flags.metrics_listen,
        std::make_shared<metrics::NodeMetrics>(**manager, std::move(capture)));
    if (!started) {
      spdlog::error("{}", started.error().message());
      return 1;
    }
    metrics_server = std::move(*started);
  }

#ifdef RECORDER_HAVE_DATAPATH
  PacketSource* feed = datapath ? static_cast<PacketSource*>(datapath.get()) : nullptr;
#else
  PacketSource* feed = nullptr;
#endif
  std::unique_ptr<PacketSource> gated;
  if (source) {
    gated = std::make_unique<GatedSource>(std::move(source), **manager, flags.replay_start_after);
    feed = gated.get();
  }
  // Last: SERVING on this port means the daemon is ready.
  std::unique_ptr<service::HealthServer> health;
  if (!flags.health_listen.empty()) {
    auto started = service::HealthServer::start(flags.health_listen);
    if (!started) {
      spdlog::error("--health-listen: {}", started.error().message());
      return 1;
    }
    health = std::move(*started);
    spdlog::info("serving the gRPC health service (plain TCP) on {}, port {}", flags.health_listen,
                 health->port());
  }
  spdlog::info("recorderd ready: node {}, storage {}, source {}", node,
               (*manager)->storage_path().string(), feed->describe());

  std::atomic<bool> stop_source{false};
  bool source_failed = false;
  std::thread source_thread([&] {
    Status s = feed->run((*manager)->consumer(), stop_source);
    if (stop_source.load()) return;
    if (!s) {
      spdlog::error("packet source failed: {}", s.error().message());
      (*manager)->stop_all(StopReason::kSourceEnded);
      ::kill(::getpid(), SIGUSR1);
      return;
    }
    spdlog::info("packet source ended ({}): stopping running recordings", feed->describe());
    (*manager)->stop_all(StopReason::kSourceEnded);
  });

  int sig = wait_for_stop_signal(signals);
  source_failed = sig == SIGUSR1;
  spdlog::info("shutting down ({}): stopping every recording",
               source_failed ? "packet source failed" : strsignal(sig));

  // The graceful part runs on its own thread, so that a second SIGTERM/SIGINT still reaches
  // sigwait() here while it waits (for a hung disk: each recording's stop gives up on it after
  // --write-timeout) and ends the process at once.
  if (health) health->set_not_serving();  // not ready while draining
  std::thread graceful([&] {
    (*ring_manager)->shutdown();
    (*manager)->shutdown();
    (*server)->shutdown(std::chrono::milliseconds(3000));
    ::kill(::getpid(), SIGUSR2);
  });
  while (true) {
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGUSR2) break;
    if (sig == SIGTERM || sig == SIGINT) {
      spdlog::warn(
          "second {}: exiting now, without waiting for the shutdown; partial files are "
          "repaired at the next start",
          strsignal(sig));
      std::_Exit(2);
    }
  }
  graceful.join();
  stop_source.store(true);
  feed->wake();
  source_thread.join();
  health.reset();
  server->reset();
  manager_ready.store(nullptr);
  metrics_server.reset();
  ring_manager->reset();
  manager->reset();
#ifdef RECORDER_HAVE_DATAPATH
  if (datapath) {
    datapath.reset();
    spdlog::info("datapath detached");
  }
#endif
  spdlog::info("recorderd stopped");
  return source_failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "recorderd: records packets to pcap files, controlled over gRPC "
      "(Hubble recorder API + detached recordings)"};
  Flags flags;
  app.config_formatter(std::make_shared<recorder::daemon::JsonConfig>());
  app.set_config("--config", "", "JSON file with the same keys as the long flags");
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.add_option("--storage-path", flags.storage_path, "directory for recording files")
      ->capture_default_str();
  app.add_option("--file-group", flags.file_group,
                 "group that may read recordings: files 0640 owned by this group (default: "
                 "files 0600, only the daemon's user)");
  app.add_option("--socket", flags.socket, "unix socket to serve on (mode 0660)")
      ->capture_default_str();
  app.add_option("--interfaces", flags.interfaces,
                 "interfaces to capture on: names or globs, comma-separated (default: every up "
                 "non-loopback interface, also later ones)")
      ->delimiter(',');
  app.add_option("--node-name", flags.node_name,
                 "node name in responses and file names "
                 "(default: hostname)");
  app.add_option("--listen", flags.listen, "also serve on HOST:PORT over TLS");
  app.add_option("--metrics-listen", flags.metrics_listen,
                 "serve Prometheus metrics over HTTP on HOST:PORT (GET /metrics), e.g. "
                 "0.0.0.0:9090");
  app.add_option("--health-listen", flags.health_listen,
                 "serve only the standard gRPC health service (grpc.health.v1) over plain TCP on "
                 "HOST:PORT, for probes without TLS (Kubernetes grpc probes)");
  app.add_option("--tls-cert", flags.tls_cert, "server certificate (PEM) for --listen");
  app.add_option("--tls-key", flags.tls_key, "server key (PEM) for --listen");
  app.add_option("--tls-client-ca", flags.tls_client_ca,
                 "CA (PEM) that client certificates must chain to (mutual TLS)");
  app.add_option("--max-recordings", flags.max_recordings, "concurrently running recordings")
      ->capture_default_str();
  app.add_option("--max-filters", flags.max_filters, "include filters per recording")
      ->capture_default_str();
  app.add_option("--max-snap-length", flags.max_snap_length,
                 "largest capture length per packet (also the default)")
      ->capture_default_str();
  app.add_option("--queue-memory", flags.queue_memory, "memory for all write queues (e.g. 1GiB)")
      ->capture_default_str();
  app.add_option("--queue-per-recording", flags.queue_per_recording,
                 "write queue memory per recording")
      ->capture_default_str();
  app.add_option("--min-free-disk", flags.min_free_disk,
                 "free space to keep on the storage filesystem; below it starts are refused and "
                 "recordings stop (disk full)")
      ->capture_default_str();
  app.add_option("--retain-max-age", flags.retain_max_age,
                 "delete finished recordings that stopped longer ago than this (e.g. 168h; 0: "
                 "no limit)")
      ->capture_default_str();
  app.add_option("--retain-max-bytes", flags.retain_max_bytes,
                 "delete the oldest finished recordings while their files hold more than this "
                 "(e.g. 50GiB; 0: no limit)")
      ->capture_default_str();
  app.add_option("--retain-max-count", flags.retain_max_count,
                 "delete the oldest finished recordings while there are more than this (0: no "
                 "limit)")
      ->capture_default_str();
  app.add_option("--transport", flags.transport, "kernel-to-user transport")
      ->check(CLI::IsMember({"perf", "ring", "auto"}))
      ->capture_default_str();
  app.add_option("--attach", flags.attach,
                 "how the tc programs are attached: tcx links (leave with the process; Linux "
                 "6.6+), clsact filters, or auto (tcx where the kernel has it)")
      ->check(CLI::IsMember({"tcx", "clsact", "auto"}))
      ->capture_default_str();
  app.add_option("--writer-threads", flags.writer_threads, "file writer threads")
      ->capture_default_str();
  app.add_flag("--no-io-uring", flags.no_io_uring, "write with pwrite() instead of io_uring");
  app.add_option("--write-timeout", flags.write_timeout,
                 "how long stopping a recording waits for the disk (a hung device); then the "
                 "recording ends with a write error and its partial file is repaired at the "
                 "next start")
      ->capture_default_str();
  app.add_option("--ring", flags.rings,
                 "a flight-recorder ring to run, as JSON: {\"name\": \"all\", \"filters\": "
                 "[\"any 0 any 0 ANY\"], \"max-size\": \"10GiB\"} (keys as recorderctl ring "
                 "start's flags; in the config file: \"rings\": [...]); repeatable");
  app.add_option("--replay", flags.replay,
                 "replay this pcap file instead of capturing (no privileges, no BPF)");
  app.add_flag("--replay-loop", flags.replay_loop, "replay the file again and again");
  app.add_option("--replay-rate", flags.replay_rate, "replay at this many packets/s (0: fast)")
      ->capture_default_str();
  app.add_option("--replay-start-after", flags.replay_start_after,
                 "begin the replay once this many recordings run (0: at once)")
      ->capture_default_str();
  app.add_flag("--replay-retime", flags.replay_retime,
               "stamp replayed packets with the current time");
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  return run_daemon("recorderd", flags.log_level, [&] { return run(flags); });
}
