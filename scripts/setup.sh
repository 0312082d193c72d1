#!/usr/bin/env bash
# Installs every Debian package pcap-recorder needs to build, test, benchmark and run.
# Safe to re-run: when nothing is missing it does not touch apt at all.
set -euo pipefail

packages=(
  # toolchain and build
  build-essential cmake pkg-config clang llvm clang-format libclang-rt-14-dev
  # eBPF: libbpf, bpftool (skeletons), UAPI headers
  libbpf-dev bpftool libelf-dev zlib1g-dev linux-libc-dev
  # the user-space pipeline
  libpcap-dev liburing-dev libfmt-dev libspdlog-dev libcli11-dev nlohmann-json3-dev
  # the service
  libgrpc++-dev libgrpc-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev
  # Prometheus metrics (--metrics-listen); the server itself scrapes the daemon in a test
  prometheus-cpp-dev prometheus
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  tshark tcpdump netsniff-ng iproute2 iputils-ping fio xdp-tools procps psmisc util-linux
  # a hung disk for real: ext4 in a loop file that a test freezes (fsfreeze is in util-linux)
  e2fsprogs
  # a busy machine on purpose (the rule-set flip test runs under CPU contention)
  stress-ng
  # the demo and integration tests send small UDP/TCP flows with python3; the demo reads the
  # relay's metrics with curl
  python3 curl
  # the Kubernetes manifests' test: YAML, and openssl for the TLS secrets it makes
  python3-yaml openssl
)
# `kubectl kustomize` renders deploy/kubernetes in a test: Debian's kubernetes-client has it, and
# so does a kubectl installed another way (kept when present).
command -v kubectl >/dev/null || packages+=(kubernetes-client)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages (${missing[*]}); run this script as root to install them" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer once, without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
