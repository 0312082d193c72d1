// recorder-relay in front of real recorderd daemons (label privileged): each daemon is a "node"
// in its own network namespace, capturing with eBPF on its own veth end, with real UDP traffic
// sent to it. Driven through recorderctl and Hubble's raw Record stream against the relay; the
// merged file is read back with libpcap and tshark and compared with the nodes' own files and
// with tcpdump run on each node's interface. Flight-recorder rings on the nodes: a snapshot
// through the relay equals the union of the nodes' tcpdump captures of that flow in that range.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "common/wall_clock.h"
#include "daemon_fixture.h"
#include "http.h"
#include "netns.h"
#include "pcap_file.h"
#include "privileged.h"
#include "ring_fixture.h"
#include "tcpdump.h"

namespace recorder::test {
namespace {
using namespace std::chrono_literals;
using recorder::testing::sh_output;
using recorder::testing::Tcpdump;
using recorder::testing::unique_name;
using recorder::testing::VethNamespace;

constexpr uint16_t kPort = 9999;
constexpr int kPacketsPerNode = 20;

constexpr int kTlsPort = 4245;

// A node: a namespace with a veth, and a recorderd inside it capturing on the namespace's end.
// With `tls_dir` (make_certificates()) it also serves TCP with TLS on the namespace's address,
// port kTlsPort, requiring client certificates.
struct Node {
  explicit Node(int index, const std::string& tls_dir = {})
      : net(unique_name("r")),
        name("node-" + std::to_string(index)),
        daemon(flags(net, name, tls_dir), {},
               {"/usr/bin/nsenter", "--net=/run/netns/" + net.ns()}) {}
  static std::vector<std::string> flags(const VethNamespace& net, const std::string& name,
                                        const std::string& tls_dir) {
    std::vector<std::string> f = {"--interfaces", net.peer(), "--node-name", name};
    if (!tls_dir.empty()) {
      f.insert(f.end(), {"--listen", net.peer4() + ":" + std::to_string(kTlsPort), "--tls-cert",
                         tls_dir + "/server.pem", "--tls-key", tls_dir + "/server.key",
                         "--tls-client-ca", tls_dir + "/ca.pem"});
    }
    return f;
  }
  VethNamespace net;
  std::string name;
  Daemon daemon;
};

std::vector<std::unique_ptr<Node>> make_nodes(int n) {
  std::vector<std::unique_ptr<Node>> nodes;
  for (int i = 0; i < n; ++i) nodes.push_back(std::make_unique<Node>(i));
  return nodes;
}

std::vector<std::string> peers_of(const std::vector<std::unique_ptr<Node>>& nodes) {
  std::vector<std::string> peers;
  for (const auto& n : nodes) peers.push_back(n->daemon.server());
  return peers;
}

// UDP to every node at once, so their packets interleave in time.
void traffic(const std::vector<std::unique_ptr<Node>>& nodes) {
  std::vector<std::thread> senders;
  for (const auto& n : nodes) {
    senders.emplace_back([&n] { n->net.send_udp(false, kPort, kPacketsPerNode, 200); });
  }
  for (auto& t : senders) t.join();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The value of `name` (for `peer`, when given) in a Prometheus text exposition; -1 when absent.
double metric(const std::string& exposition, const std::string& name,
              const std::string& peer = {}) {
  const std::string series = peer.empty() ? name + " " : name + "{peer=\"" + peer + "\"} ";
  std::istringstream lines(exposition);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(series, 0) == 0) return std::stod(line.substr(series.size()));
  }
  return -1;
}

pb::RecordingInfo get(ServerProcess& p, uint64_t id) {
  grpc::ClientContext ctx;
  pb::GetRequest request;
  request.set_id(id);
  pb::RecordingInfo info;
  EXPECT_TRUE(p.recordings().Get(&ctx, request, &info).ok());
  return info;
}

bool by_time_then_bytes(const PcapRecord& a, const PcapRecord& b) {
  return std::tie(a.timestamp_ns, a.data) < std::tie(b.timestamp_ns, b.data);
}

// The merged file holds exactly the packets of the nodes' own files (those of `merged_nodes`),
// in time order.
void expect_union_of_node_files(const std::string& merged_path, const pb::RecordingInfo& info,
                                const std::vector<int>& merged_nodes) {
  const PcapContents merged = read_pcap(merged_path);
  for (size_t i = 1; i < merged.records.size(); ++i) {
    EXPECT_LE(merged.records[i - 1].timestamp_ns, merged.records[i].timestamp_ns)
        << "packet " << i << " is out of time order";
  }
  std::vector<PcapRecord> expected;
  for (int k : merged_nodes) {
    const auto own = read_pcap(info.nodes(k).file_path());
    EXPECT_EQ(own.records.size(), info.nodes(k).packets_merged()) << info.nodes(k).node_name();
    expected.insert(expected.end(), own.records.begin(), own.records.end());
  }
  std::vector<PcapRecord> got = merged.records;
  std::sort(expected.begin(), expected.end(), by_time_then_bytes);
  std::sort(got.begin(), got.end(), by_time_then_bytes);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].timestamp_ns, expected[i].timestamp_ns) << "packet " << i;
    EXPECT_EQ(got[i].data, expected[i].data) << "packet " << i;
  }
}

TEST(Relay, ThreeNodesMergedInTimeOrderEqualToTheNodesFilesAndTcpdump) {
  RECORDER_REQUIRE_ROOT();
  auto nodes = make_nodes(3);
  for (const auto& n : nodes) ASSERT_TRUE(n->net.ok());
  Relay relay(peers_of(nodes));
  const std::string filter = "any 0 any " + std::to_string(kPort) + " UDP";
  // The reference: tcpdump on each node's interface, inside its namespace, for the same flows.
  TempDir captures;
  std::vector<std::unique_ptr<Tcpdump>> tcpdumps;
  for (const auto& n : nodes) {
    const std::string base = (captures.path() / n->name).string();
    tcpdumps.push_back(std::make_unique<Tcpdump>(n->net.peer(), base + ".pcap",
                                                 "udp dst port " + std::to_string(kPort),
                                                 base + ".log", n->net.ns()));
    ASSERT_TRUE(tcpdumps.back()->ready()) << n->name;
  }

  auto started = run_command(
      {RECORDERCTL_PATH, "--server", relay.server(), "start", filter, "--format", "pcapng"},
      relay.dir());
  ASSERT_EQ(started.exit_code, 0) << started.output;
  const uint64_t id = std::stoull(trim(started.output));
  traffic(nodes);
  const auto running = wait_until_accounted(relay, id, 3 * kPacketsPerNode, 20s);
  EXPECT_EQ(running.stats().packets_captured(), 3u * kPacketsPerNode);
  for (auto& t : tcpdumps) t->stop();

  auto stopped = run_command(
      {RECORDERCTL_PATH, "--server", relay.server(), "stop", std::to_string(id)}, relay.dir());
  ASSERT_EQ(stopped.exit_code, 0) << stopped.output;
  const fs::path merged = relay.dir() / "merged.pcapng";
  auto fetched = run_command({RECORDERCTL_PATH, "--server", relay.server(), "fetch",
                              std::to_string(id), "-o", merged.string()},
                             relay.dir());
  ASSERT_EQ(fetched.exit_code, 0) << fetched.output;

  const pb::RecordingInfo info = get(relay, id);
  EXPECT_EQ(info.state(), pb::RECORDING_STATE_STOPPED);
  EXPECT_EQ(info.stop_reason(), pb::STOP_REASON_REQUESTED);
  EXPECT_EQ(info.stop_message(), "");
  EXPECT_EQ(info.node_name(), "relay");
  EXPECT_EQ(info.stats().packets_captured(), 3u * kPacketsPerNode);
  ASSERT_EQ(info.nodes_size(), 3);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(info.nodes(k).node_name(), nodes[k]->name);
    EXPECT_EQ(info.nodes(k).address(), nodes[k]->daemon.server());
    EXPECT_EQ(info.nodes(k).error(), "");
    EXPECT_EQ(info.nodes(k).packets_merged(), static_cast<uint64_t>(kPacketsPerNode));
    EXPECT_EQ(info.nodes(k).state(), pb::RECORDING_STATE_STOPPED);
  }
  expect_union_of_node_files(merged.string(), info, {0, 1, 2});
  // Captures hold personal data: the merged file is the relay user's alone.
  EXPECT_EQ(fs::status(info.file_path()).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);

  // Each packet on its node's interface ("node-i/<veth>"), told apart by the address it went to.
  std::istringstream lines(sh_output("tshark -r " + merged.string() +
                                     " -T fields -e frame.interface_name -e ip.dst 2>/dev/null"));
  std::string line;
  int checked = 0;
  std::vector<std::string> interfaces;  // of the merged file's packets, in file order
  while (std::getline(lines, line)) {
    const auto tab = line.find('\t');
    ASSERT_NE(tab, std::string::npos) << line;
    const std::string itf = line.substr(0, tab), dst = line.substr(tab + 1);
    interfaces.push_back(itf);
    bool found = false;
    for (const auto& n : nodes) {
      if (dst == n->net.peer4()) {
        EXPECT_EQ(itf, n->name + "/" + n->net.peer()) << line;
        found = true;
      }
    }
    EXPECT_TRUE(found) << line;
    ++checked;
  }
  EXPECT_EQ(checked, 3 * kPacketsPerNode);
  // The packets on each node's interface are exactly those tcpdump saw there (bytes, as
  // multisets: the two capturers stamp their own times).
  const auto merged_records = read_pcap(merged.string()).records;
  ASSERT_EQ(interfaces.size(), merged_records.size());
  for (size_t k = 0; k < nodes.size(); ++k) {
    FrameMultiset on_node, seen_by_tcpdump;
    for (size_t i = 0; i < merged_records.size(); ++i) {
      if (interfaces[i] == nodes[k]->name + "/" + nodes[k]->net.peer()) {
        on_node.insert(merged_records[i].data);
      }
    }
    for (const auto& r :
         read_pcap((captures.path() / (nodes[k]->name + ".pcap")).string()).records) {
      seen_by_tcpdump.insert(r.data);
    }
    EXPECT_EQ(seen_by_tcpdump.size(), static_cast<size_t>(kPacketsPerNode)) << nodes[k]->name;
    EXPECT_TRUE(on_node == seen_by_tcpdump)
        << nodes[k]->name << ": " << on_node.size() << " merged vs " << seen_by_tcpdump.size()
        << " seen by tcpdump";
  }
  // The section comment names the filter and every node.
  const std::string capinfos = sh_output("capinfos " + merged.string() + " 2>/dev/null");
  EXPECT_NE(capinfos.find(filter), std::string::npos) << capinfos;
  for (const auto& n : nodes) EXPECT_NE(capinfos.find(n->name), std::string::npos) << capinfos;

  // Delete removes the merged file and the nodes' files.
  auto deleted = run_command(
      {RECORDERCTL_PATH, "--server", relay.server(), "delete", std::to_string(id)}, relay.dir());
  ASSERT_EQ(deleted.exit_code, 0) << deleted.output;
  EXPECT_FALSE(fs::exists(info.file_path()));
  for (int k = 0; k < 3; ++k) EXPECT_FALSE(fs::exists(info.nodes(k).file_path()));
}

TEST(Relay, UnreachableAndKilledNodesAreNamedAndTheRestIsMerged) {
  RECORDER_REQUIRE_ROOT();
  auto nodes = make_nodes(3);
  for (const auto& n : nodes) ASSERT_TRUE(n->net.ok());
  TempDir nowhere;
  const std::string unreachable = "unix://" + (nowhere.path() / "nobody.sock").string();
  auto peers = peers_of(nodes);
  peers.push_back(unreachable);
  const uint16_t metrics_port = free_tcp_port();
  Relay relay(peers, {"--metrics-listen", "127.0.0.1:" + std::to_string(metrics_port)});

  auto started = run_command({RECORDERCTL_PATH, "--server", relay.server(), "start",
                              "any 0 any " + std::to_string(kPort) + " UDP", "--format", "pcapng"},
                             relay.dir());
  ASSERT_EQ(started.exit_code, 0) << started.output;
  const uint64_t id = std::stoull(trim(started.output));
  traffic(nodes);
  wait_until_accounted(relay, id, 3 * kPacketsPerNode, 20s);
  nodes[2]->daemon.kill_hard();  // a node dies mid-recording

  auto stopped = run_command(
      {RECORDERCTL_PATH, "--server", relay.server(), "stop", std::to_string(id)}, relay.dir());
  ASSERT_EQ(stopped.exit_code, 0) << stopped.output;
  // The result names both failed nodes and why.
  EXPECT_NE(stopped.output.find(unreachable), std::string::npos) << stopped.output;
  EXPECT_NE(stopped.output.find(nodes[2]->name), std::string::npos) << stopped.output;

  const pb::RecordingInfo info = get(relay, id);
  EXPECT_EQ(info.state(), pb::RECORDING_STATE_STOPPED);
  EXPECT_EQ(info.stop_reason(), pb::STOP_REASON_REQUESTED);
  ASSERT_EQ(info.nodes_size(), 4);
  EXPECT_EQ(info.nodes(3).address(), unreachable);
  EXPECT_EQ(info.nodes(3).recording_id(), 0u);
  EXPECT_NE(info.nodes(3).error().find("start: UNAVAILABLE"), std::string::npos)
      << info.nodes(3).error();
  EXPECT_NE(info.nodes(2).error().find("stop: UNAVAILABLE"), std::string::npos)
      << info.nodes(2).error();
  EXPECT_EQ(info.nodes(2).packets_merged(), 0u);
  EXPECT_NE(info.stop_message().find(nodes[2]->name), std::string::npos) << info.stop_message();
  EXPECT_NE(info.stop_message().find(unreachable), std::string::npos) << info.stop_message();
  for (int k = 0; k < 2; ++k) {
    EXPECT_EQ(info.nodes(k).error(), "");
    EXPECT_EQ(info.nodes(k).packets_merged(), static_cast<uint64_t>(kPacketsPerNode));
  }
  ASSERT_FALSE(info.file_path().empty());
  expect_union_of_node_files(info.file_path(), info, {0, 1});
  EXPECT_NE(relay.log().find(unreachable), std::string::npos);

  // Per-peer health in the relay's metrics: the live nodes up, the unreachable and the killed
  // one down, with their failed calls counted; the recording's failed nodes.
  const std::string metrics = http_get(metrics_port, "/metrics").body;
  EXPECT_EQ(metric(metrics, "recorder_relay_peers"), 4) << metrics;
  for (int k = 0; k < 2; ++k) {
    EXPECT_EQ(metric(metrics, "recorder_relay_peer_up", nodes[k]->daemon.server()), 1) << metrics;
    EXPECT_EQ(metric(metrics, "recorder_relay_peer_failed_calls_total", nodes[k]->daemon.server()),
              0)
        << metrics;
  }
  for (const std::string& down : {nodes[2]->daemon.server(), unreachable}) {
    EXPECT_EQ(metric(metrics, "recorder_relay_peer_up", down), 0) << metrics;
    EXPECT_GE(metric(metrics, "recorder_relay_peer_failed_calls_total", down), 1) << metrics;
  }
}

// Hubble's Record stream, driven as `hubble record` drives it (pcap, every stop condition sent
// as 0), against the relay: running statistics summed over the nodes, then `stopped` with the
// merged file's path on the relay.
TEST(Relay, HubbleRecordStreamGetsTheMergedPcap) {
  RECORDER_REQUIRE_ROOT();
  auto nodes = make_nodes(2);
  for (const auto& n : nodes) ASSERT_TRUE(n->net.ok());
  Relay relay(peers_of(nodes));
  grpc::ClientContext ctx;
  auto stream = relay.recorder().Record(&ctx);
  pb::RecordRequest start;
  auto* s = start.mutable_start();
  s->mutable_filesink()->set_file_prefix("hubble");
  auto* f = s->add_include();
  f->set_destination_port(kPort);
  f->set_protocol(pb::PROTOCOL_UDP);
  s->set_max_capture_length(0);
  s->mutable_stop_condition()->set_packets_captured_count(0);
  s->mutable_stop_condition()->set_bytes_captured_count(0);
  s->mutable_stop_condition()->mutable_time_elapsed()->set_seconds(0);
  ASSERT_TRUE(stream->Write(start));
  pb::RecordResponse response;
  ASSERT_TRUE(stream->Read(&response));
  ASSERT_TRUE(response.has_running());
  EXPECT_EQ(response.node_name(), "relay");
  traffic(nodes);
  while (response.has_running() &&
         response.running().stats().packets_captured() < 2u * kPacketsPerNode) {
    ASSERT_TRUE(stream->Read(&response));
  }
  pb::RecordRequest stop;
  stop.mutable_stop();
  ASSERT_TRUE(stream->Write(stop));
  pb::RecordResponse stopped;
  while (stream->Read(&response)) {
    if (response.has_stopped()) stopped = response;
  }
  const auto status = stream->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(stopped.has_stopped());
  EXPECT_EQ(stopped.stopped().stop_reason(), pb::STOP_REASON_REQUESTED);
  EXPECT_EQ(stopped.stopped().stats().packets_captured(), 2u * kPacketsPerNode);
  const fs::path path = stopped.stopped().filesink().file_path();
  EXPECT_EQ(path.parent_path(), fs::canonical(relay.storage()));
  EXPECT_TRUE(path.filename().string().starts_with("hubble_"));
  EXPECT_EQ(path.extension(), ".pcap");
  const PcapContents merged = read_pcap(path.string());
  EXPECT_EQ(merged.link_type, DLT_EN10MB);
  EXPECT_EQ(merged.records.size(), 2u * kPacketsPerNode);
  EXPECT_EQ(stopped.stopped().filesink().file_size(), fs::file_size(path));
}

// Stop conditions apply on each node; once every node has stopped on its own the relay finishes
// the recording: `recorderctl record --packet-limit` (the Record stream) against the relay ends
// by itself with the merged file of every node's packets.
TEST(Relay, PerNodePacketLimitEndsTheClusterRecording) {
  RECORDER_REQUIRE_ROOT();
  auto nodes = make_nodes(2);
  for (const auto& n : nodes) ASSERT_TRUE(n->net.ok());
  Relay relay(peers_of(nodes));
  CommandResult recorded;
  std::jthread record([&] {  // joined on every way out
    recorded = run_command({RECORDERCTL_PATH, "--server", relay.server(), "--json", "record",
                            "any 0 any " + std::to_string(kPort) + " UDP", "--packet-limit",
                            std::to_string(kPacketsPerNode / 2), "--format", "pcapng"},
                           relay.dir());
  });
  // The recording runs once the relay knows it (Get: NOT_FOUND until then).
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  bool running = false;
  while (!running && std::chrono::steady_clock::now() < deadline) {
    grpc::ClientContext ctx;
    pb::GetRequest request;
    request.set_id(1);
    pb::RecordingInfo info;
    running = relay.recordings().Get(&ctx, request, &info).ok();
    if (!running) std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(running) << "the relay never started recording 1";
  traffic(nodes);
  record.join();
  ASSERT_EQ(recorded.exit_code, 0) << recorded.output;
  const pb::RecordingInfo info = get(relay, 1);
  EXPECT_EQ(info.state(), pb::RECORDING_STATE_STOPPED);
  EXPECT_EQ(info.stop_reason(), pb::STOP_REASON_PACKET_LIMIT) << info.stop_message();
  EXPECT_EQ(info.stats().packets_captured(), static_cast<uint64_t>(kPacketsPerNode));
  EXPECT_NE(recorded.output.find(info.file_path()), std::string::npos) << recorded.output;
  EXPECT_EQ(read_pcap(info.file_path()).records.size(), static_cast<size_t>(kPacketsPerNode));
}

// A CA, a server certificate for `name` and a client certificate, made with openssl in `dir`:
// ca.pem, server.pem/server.key, client.pem/client.key.
bool make_certificates(const fs::path& dir, const std::string& name) {
  using recorder::testing::sh;
  const std::string d = dir.string() + "/";
  const std::string quiet = " >/dev/null 2>&1";
  auto issue = [&](const std::string& who, const std::string& extension) {
    return sh("openssl req -newkey rsa:2048 -nodes -keyout " + d + who + ".key -subj /CN=" + who +
              " -out " + d + who + ".csr" + quiet) == 0 &&
           sh("echo '" + extension + "' > " + d + who + ".ext") == 0 &&
           sh("openssl x509 -req -in " + d + who + ".csr -CA " + d + "ca.pem -CAkey " + d +
              "ca.key -CAcreateserial -days 1 -out " + d + who + ".pem -extfile " + d + who +
              ".ext" + quiet) == 0;
  };
  return sh("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -keyout " + d + "ca.key -out " + d +
            "ca.pem -subj /CN=relay-test-ca" + quiet) == 0 &&
         issue("server", "subjectAltName=DNS:" + name) &&
         issue("client", "extendedKeyUsage=clientAuth");
}

// --peers-dns: the relay sees a private /etc/hosts (bind-mounted in a mount namespace of its
// own) where one name has the address of each node; the daemons serve TCP with TLS and require
// client certificates (mutual TLS, verified against the DNS name). A node whose address is
// added to the name later is used by the next recording (re-resolution every second here).
TEST(Relay, PeersFoundByDnsOverMutualTlsAndANodeThatJoinsLater) {
  RECORDER_REQUIRE_ROOT();
  TempDir tls;
  const std::string name = "recorderd.relay-test";
  ASSERT_TRUE(make_certificates(tls.path(), name));
  const std::string pem = tls.path().string();
  std::vector<std::unique_ptr<Node>> nodes;
  for (int i = 0; i < 2; ++i) {
    nodes.push_back(std::make_unique<Node>(i, pem));
    ASSERT_TRUE(nodes.back()->net.ok());
  }
  const std::string port = std::to_string(kTlsPort);
  const fs::path hosts = tls.path() / "hosts";
  std::ofstream(hosts) << "127.0.0.1 localhost\n" << nodes[0]->net.peer4() << " " << name << "\n";
  Relay relay({},
              {"--peers-dns", name + ":" + port, "--peers-dns-interval", "1s", "--peer-tls-ca",
               pem + "/ca.pem", "--peer-tls-cert", pem + "/client.pem", "--peer-tls-key",
               pem + "/client.key"},
              {"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
               "mount --bind " + hosts.string() + " /etc/hosts && exec \"$0\" \"$@\""});
  const std::string first = "peer " + nodes[0]->net.peer4() + ":" + port + " found";
  ASSERT_NE(relay.wait_for_log(first).find(first), std::string::npos);
  // Appended in place: the bind mount shows the same file.
  std::ofstream(hosts, std::ios::app) << nodes[1]->net.peer4() << " " << name << "\n";
  const std::string joined = "peer " + nodes[1]->net.peer4() + ":" + port + " found";
  ASSERT_NE(relay.wait_for_log(joined).find(joined), std::string::npos);

  auto started = run_command({RECORDERCTL_PATH, "--server", relay.server(), "start",
                              "any 0 any " + std::to_string(kPort) + " UDP", "--format", "pcapng"},
                             relay.dir());
  ASSERT_EQ(started.exit_code, 0) << started.output;
  const uint64_t id = std::stoull(trim(started.output));
  traffic(nodes);
  wait_until_accounted(relay, id, 2 * kPacketsPerNode, 20s);
  auto stopped = run_command(
      {RECORDERCTL_PATH, "--server", relay.server(), "stop", std::to_string(id)}, relay.dir());
  ASSERT_EQ(stopped.exit_code, 0) << stopped.output;
  const pb::RecordingInfo info = get(relay, id);
  EXPECT_EQ(info.stop_message(), "");
  ASSERT_EQ(info.nodes_size(), 2);
  std::set<std::string> names;
  for (const auto& node : info.nodes()) {
    EXPECT_EQ(node.error(), "") << node.address();
    EXPECT_EQ(node.packets_merged(), static_cast<uint64_t>(kPacketsPerNode)) << node.address();
    names.insert(node.node_name());
  }
  EXPECT_EQ(names, (std::set<std::string>{"node-0", "node-1"}));
  expect_union_of_node_files(info.file_path(), info, {0, 1});
}

// Rings named "flight" on three nodes (two pcapng, one pcap: its file has no interface names)
// and a fourth node without it, traffic of two flows to every node in three bursts: `recorderctl
// --server <relay> snapshot flight --from --to FILTER -o FILE` gets one file holding, for each
// node, exactly the packets tcpdump saw on that node's interface for that flow in that burst, in
// time order, each on its node's interface; the node without the ring is named in the result.
// The snapshot is a relay recording: listed, fetched and deleted (the nodes' snapshots too).
TEST(Relay, RingSnapshotOfOneFlowEqualsTheUnionOfTheNodesTcpdumpCaptures) {
  RECORDER_REQUIRE_ROOT();
  auto nodes = make_nodes(4);
  for (const auto& n : nodes) ASSERT_TRUE(n->net.ok());
  for (int k = 0; k < 3; ++k) {
    auto started =
        ctl(nodes[k]->daemon, {"ring", "start", "flight", "any 0 any 0 UDP", "--max-size", "64MiB",
                               "--format", k == 2 ? "pcap" : "pcapng"});
    ASSERT_EQ(started.exit_code, 0) << started.output;
  }
  Relay relay(peers_of(nodes));
  TempDir captures;
  std::vector<std::unique_ptr<Tcpdump>> tcpdumps;
  for (const auto& n : nodes) {
    const std::string base = (captures.path() / n->name).string();
    tcpdumps.push_back(std::make_unique<Tcpdump>(n->net.peer(), base + ".pcap", "udp",
                                                 base + ".log", n->net.ns()));
    ASSERT_TRUE(tcpdumps.back()->ready()) << n->name;
  }
  // Three bursts of two flows to every node at once, quiet gaps between them.
  uint64_t from = 0, to = 0;
  for (int burst = 0; burst < 3; ++burst) {
    std::this_thread::sleep_for(300ms);
    if (burst == 1) from = wall_clock_ns() - 100000000;
    std::vector<std::thread> senders;
    for (const auto& n : nodes) {
      senders.emplace_back([&n] {
        for (int i = 0; i < 2; ++i) {
          n->net.send_udp(false, 7001, 10, 300);
          n->net.send_udp(false, 7002, 10, 200);
        }
      });
    }
    for (auto& t : senders) t.join();
    if (burst == 1) to = wall_clock_ns() + 100000000;
  }
  std::this_thread::sleep_for(300ms);
  for (auto& t : tcpdumps) t->stop();
  for (int k = 0; k < 3; ++k) {
    EXPECT_GE(wait_for_ring_packets(nodes[k]->daemon, "flight", 120).stats().packets_captured(),
              120u)
        << nodes[k]->name;
  }

  const std::string filter = "any 0 any 7002 UDP";
  const fs::path out = relay.dir() / "snapshot.pcapng";
  auto r =
      run_command({RECORDERCTL_PATH, "--server", relay.server(), "snapshot", "flight", "--from",
                   seconds_text(from), "--to", seconds_text(to), filter, "-o", out.string()},
                  relay.dir());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string in_recording = "in recording ";
  ASSERT_NE(r.output.find(in_recording), std::string::npos) << r.output;
  const uint64_t id =
      std::stoull(r.output.substr(r.output.find(in_recording) + in_recording.size()));
  const pb::RecordingInfo info = get(relay, id);
  EXPECT_EQ(info.state(), pb::RECORDING_STATE_STOPPED);
  EXPECT_EQ(info.stop_reason(), pb::STOP_REASON_SOURCE_ENDED);
  EXPECT_EQ(info.file_prefix(), "flight");
  ASSERT_EQ(info.nodes_size(), 4);
  // The node without the ring: named, with why, in the breakdown and the stop message.
  EXPECT_EQ(info.nodes(3).recording_id(), 0u);
  EXPECT_NE(info.nodes(3).error().find("snapshot: NOT_FOUND"), std::string::npos)
      << info.nodes(3).error();
  EXPECT_NE(info.stop_message().find(nodes[3]->daemon.server()), std::string::npos)
      << info.stop_message();

  // Per node: the packets on its interface in the merged file are tcpdump's packets of that
  // flow in that burst, in order, byte for byte.
  const auto merged = read_pcap(out.string()).records;
  for (size_t i = 1; i < merged.size(); ++i) {
    EXPECT_LE(merged[i - 1].timestamp_ns, merged[i].timestamp_ns) << "packet " << i;
  }
  std::istringstream lines(
      sh_output("tshark -r " + out.string() + " -T fields -e frame.interface_name 2>/dev/null"));
  std::vector<std::string> interfaces;
  for (std::string line; std::getline(lines, line);) interfaces.push_back(line);
  ASSERT_EQ(interfaces.size(), merged.size());
  size_t total = 0;
  for (int k = 0; k < 3; ++k) {
    const auto want =
        select(read_pcap((captures.path() / (nodes[k]->name + ".pcap")).string()).records, from, to,
               {filter});
    EXPECT_EQ(want.size(), 20u) << nodes[k]->name;
    EXPECT_EQ(info.nodes(k).node_name(), nodes[k]->name);
    EXPECT_EQ(info.nodes(k).error(), "");
    EXPECT_EQ(info.nodes(k).packets_merged(), want.size()) << nodes[k]->name;
    // pcap names no interface: the pcap node's is "<node>/if0".
    const std::string itf = nodes[k]->name + "/" + (k == 2 ? "if0" : nodes[k]->net.peer());
    std::vector<PcapRecord> got;
    for (size_t i = 0; i < merged.size(); ++i) {
      if (interfaces[i] == itf) got.push_back(merged[i]);
    }
    ASSERT_EQ(got.size(), want.size()) << itf;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].data, want[i].data) << itf << " packet " << i;
    }
    total += got.size();
  }
  EXPECT_EQ(total, merged.size());
  EXPECT_EQ(info.stats().packets_captured(), merged.size());
  // The section comment names the ring, the range, the filter and the nodes.
  const std::string capinfos = sh_output("capinfos " + out.string() + " 2>/dev/null");
  for (const std::string& text : {std::string("snapshot of ring flight"), filter, nodes[0]->name,
                                  nodes[3]->daemon.server()}) {
    EXPECT_NE(capinfos.find(text), std::string::npos) << text << "\n" << capinfos;
  }

  // Listed like any relay recording; deleted with the nodes' snapshots.
  auto listed = run_command({RECORDERCTL_PATH, "--server", relay.server(), "list"}, relay.dir());
  EXPECT_NE(listed.output.find(info.file_name()), std::string::npos) << listed.output;
  auto deleted = run_command(
      {RECORDERCTL_PATH, "--server", relay.server(), "delete", std::to_string(id)}, relay.dir());
  ASSERT_EQ(deleted.exit_code, 0) << deleted.output;
  EXPECT_FALSE(fs::exists(info.file_path()));
  for (int k = 0; k < 3; ++k) EXPECT_FALSE(fs::exists(info.nodes(k).file_path()));
}

// The relay's ring list and status: one entry per ring name summed over the nodes with each
// node's own; rings are declared per node, so starting one through the relay is refused.
TEST(Relay, RingsListedAcrossNodesAndStartRefused) {
  RECORDER_REQUIRE_ROOT();
  auto nodes = make_nodes(2);
  for (const auto& n : nodes) ASSERT_TRUE(n->net.ok());
  auto started =
      ctl(nodes[0]->daemon, {"ring", "start", "flight", "any 0 any 0 UDP", "--max-size", "64MiB"});
  ASSERT_EQ(started.exit_code, 0) << started.output;
  Relay relay(peers_of(nodes));
  traffic(nodes);
  wait_for_ring_packets(nodes[0]->daemon, "flight", kPacketsPerNode);
  auto status = run_command(
      {RECORDERCTL_PATH, "--server", relay.server(), "--json", "ring", "status", "flight"},
      relay.dir());
  ASSERT_EQ(status.exit_code, 0) << status.output;
  const auto ring = nlohmann::json::parse(status.output);
  EXPECT_EQ(ring["node_name"], "relay");
  EXPECT_EQ(ring["state"], "RING_STATE_RUNNING");
  ASSERT_EQ(ring["nodes"].size(), 2u) << status.output;
  EXPECT_EQ(ring["nodes"][0]["node_name"], nodes[0]->name);
  EXPECT_EQ(ring["nodes"][0]["stats"]["packets_captured"], ring["stats"]["packets_captured"]);
  EXPECT_EQ(ring["nodes"][1]["node_name"], nodes[1]->daemon.server());
  EXPECT_EQ(ring["nodes"][1]["message"], "no ring named flight");
  auto list =
      run_command({RECORDERCTL_PATH, "--server", relay.server(), "ring", "list"}, relay.dir());
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("flight"), std::string::npos) << list.output;

  auto refused = run_command({RECORDERCTL_PATH, "--server", relay.server(), "ring", "start",
                              "other", "any 0 any 0 UDP", "--max-size", "64MiB"},
                             relay.dir());
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("Rings.Start is not served by recorder-relay"), std::string::npos)
      << refused.output;
  EXPECT_NE(refused.output.find("declared on each node"), std::string::npos) << refused.output;
  auto rings =
      pb::Rings::NewStub(grpc::CreateChannel(relay.server(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  pb::DeleteRingRequest request;
  request.set_name("flight");
  pb::DeleteRingResponse response;
  EXPECT_EQ(rings->Delete(&context, request, &response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

// The relay's registry survives it: after a kill -9 and a restart on the same storage, a finished
// recording is listed, fetched (its node breakdown kept) and deleted as before; the one that was
// running is finished at the restart (stopped on the nodes, merged), marked as interrupted; new
// ids continue above both.
TEST(Relay, RecordingsSurviveARestartAndTheRunningOneIsMarkedInterrupted) {
  RECORDER_REQUIRE_ROOT();
  auto nodes = make_nodes(2);
  for (const auto& n : nodes) ASSERT_TRUE(n->net.ok());
  TempDir storage;
  const std::string filter = "any 0 any " + std::to_string(kPort) + " UDP";
  auto ctl_relay = [&](Relay& relay, std::vector<std::string> args) {
    args.insert(args.begin(), {RECORDERCTL_PATH, "--server", relay.server()});
    return run_command(args, relay.dir());
  };
  uint64_t finished = 0, running = 0;
  pb::RecordingInfo before;
  {
    Relay relay(peers_of(nodes), {}, {}, storage.path());
    auto started = ctl_relay(relay, {"start", filter, "--format", "pcapng"});
    ASSERT_EQ(started.exit_code, 0) << started.output;
    finished = std::stoull(trim(started.output));
    traffic(nodes);
    wait_until_accounted(relay, finished, 2 * kPacketsPerNode, 20s);
    auto stopped = ctl_relay(relay, {"stop", std::to_string(finished)});
    ASSERT_EQ(stopped.exit_code, 0) << stopped.output;
    before = get(relay, finished);

    started = ctl_relay(relay, {"start", filter, "--format", "pcapng"});
    ASSERT_EQ(started.exit_code, 0) << started.output;
    running = std::stoull(trim(started.output));
    traffic(nodes);
    wait_until_accounted(relay, running, 2 * kPacketsPerNode, 20s);
    relay.kill_hard();
  }

  Relay relay(peers_of(nodes), {}, {}, storage.path());
  const pb::RecordingInfo after = get(relay, finished);
  EXPECT_EQ(after.state(), pb::RECORDING_STATE_STOPPED);
  EXPECT_EQ(after.stop_reason(), pb::STOP_REASON_REQUESTED);
  EXPECT_EQ(after.file_path(), before.file_path());
  EXPECT_EQ(after.file_size(), before.file_size());
  EXPECT_EQ(after.stats().packets_captured(), 2u * kPacketsPerNode);
  ASSERT_EQ(after.nodes_size(), 2);
  for (int k = 0; k < 2; ++k) {
    EXPECT_EQ(after.nodes(k).node_name(), nodes[k]->name);
    EXPECT_EQ(after.nodes(k).recording_id(), before.nodes(k).recording_id());
    EXPECT_EQ(after.nodes(k).packets_merged(), static_cast<uint64_t>(kPacketsPerNode));
  }
  auto listed = ctl_relay(relay, {"list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_NE(listed.output.find(after.file_name()), std::string::npos) << listed.output;
  const fs::path fetched = relay.dir() / "fetched.pcapng";
  auto fetch = ctl_relay(relay, {"fetch", std::to_string(finished), "-o", fetched.string()});
  ASSERT_EQ(fetch.exit_code, 0) << fetch.output;
  EXPECT_EQ(read_text(fetched), read_text(after.file_path()));
  expect_union_of_node_files(fetched.string(), after, {0, 1});

  // The interrupted one: finished by the new relay from the nodes' files.
  pb::RecordingInfo interrupted;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  do {
    interrupted = get(relay, running);
    if (interrupted.state() == pb::RECORDING_STATE_STOPPED) break;
    std::this_thread::sleep_for(50ms);
  } while (std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(interrupted.state(), pb::RECORDING_STATE_STOPPED);
  EXPECT_EQ(interrupted.stop_reason(), pb::STOP_REASON_DAEMON_SHUTDOWN);
  EXPECT_TRUE(interrupted.stop_message().starts_with("interrupted: the relay stopped"))
      << interrupted.stop_message();
  ASSERT_FALSE(interrupted.file_path().empty()) << interrupted.stop_message();
  ASSERT_EQ(interrupted.nodes_size(), 2);
  for (int k = 0; k < 2; ++k) {
    EXPECT_EQ(interrupted.nodes(k).state(), pb::RECORDING_STATE_STOPPED);
    EXPECT_EQ(interrupted.nodes(k).packets_merged(), static_cast<uint64_t>(kPacketsPerNode));
  }
  expect_union_of_node_files(interrupted.file_path(), interrupted, {0, 1});

  // Deleted after the restart: the merged file, its metadata and the nodes' files.
  auto deleted = ctl_relay(relay, {"delete", std::to_string(finished)});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.output;
  EXPECT_FALSE(fs::exists(after.file_path()));
  EXPECT_FALSE(
      fs::exists(fs::path(after.file_path()).parent_path() / ("." + after.file_name() + ".json")));
  for (int k = 0; k < 2; ++k) EXPECT_FALSE(fs::exists(after.nodes(k).file_path()));
  auto next = ctl_relay(relay, {"start", filter});
  ASSERT_EQ(next.exit_code, 0) << next.output;
  EXPECT_GT(std::stoull(trim(next.output)), running);
}

}  // namespace
}  // namespace recorder::test
