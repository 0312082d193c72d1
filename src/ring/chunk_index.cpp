#include "ring/chunk_index.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <tuple>

#include <fmt/format.h>

#include "dispatch/packet_info.h"

namespace recorder::ring {
namespace {

constexpr char kMagic[8] = {'P', 'R', 'R', 'I', 'N', 'G', 'X', '1'};
constexpr uint32_t kVersion = 1;

// Sizes of one entry per section (the interface section is variable).
enum Section : size_t { kPackets, kAddresses, kPorts, kProtocols, kPostings, kInterfaces, kCount };
constexpr size_t kPacketEntry = 16;
constexpr size_t kAddressEntry = 28;
constexpr size_t kPortEntry = 12;
constexpr size_t kProtocolEntry = 12;
constexpr size_t kPostingEntry = 4;
constexpr size_t kMaxInterfaceName = ChunkIndexBuilder::kMaxInterfaceName;
static_assert(ChunkIndexBuilder::kMaxBytesPerPacket == kPacketEntry + 5 * kPostingEntry +
                                                           2 * kAddressEntry + 2 * kPortEntry +
                                                           kProtocolEntry);

template <typename T>
T get(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename T>
void put(std::vector<uint8_t>& out, T v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof v);
}

// Writes `bytes` from `at` on at their place in `fd`; the errno of a failed write (0: all done).
int write_all(int fd, std::span<const uint8_t> bytes, size_t at) {
  while (at < bytes.size()) {
    const ssize_t n = ::pwrite(fd, bytes.data() + at, bytes.size() - at, static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : ENOSPC;
    at += static_cast<size_t>(n);
  }
  return 0;
}

// Writes an index file: a hidden temporary, fsync()ed, renamed to `name`. `bytes` is
// page-aligned (a PageAllocator buffer or a mapping), so its whole pages go with O_DIRECT where
// the filesystem has it: an index of tens of MB is not copied into the page cache on its way to
// disk (the ring maps it again when a snapshot needs it). The tail, and everything on a
// filesystem without direct I/O, goes through the page cache.
Status write_index_file(const storage::Directory& dir, std::string_view name,
                        std::span<const uint8_t> bytes) {
  const std::string temp = fmt::format(".{}.tmp", name);
  (void)dir.unlink(temp);  // a leftover of a crash
  auto fd = dir.create_file(temp, O_WRONLY);
  if (!fd) return std::move(fd).error().wrap("write chunk index");
  auto failed = [&](int err, std::string_view what) {
    (void)dir.unlink(temp);
    return Error::from_errno(fmt::format("write chunk index {}{}", name, what), err);
  };
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  size_t done = 0;
  if (reinterpret_cast<uintptr_t>(bytes.data()) % page == 0 && bytes.size() >= page) {
    if (auto direct = dir.open_file(temp, O_WRONLY | O_DIRECT)) {
      const size_t whole = bytes.size() / page * page;
      // EINVAL: the filesystem takes no direct I/O after all; the page cache takes it all.
      if (int err = write_all(direct->get(), bytes.first(whole), 0); err == 0) {
        done = whole;
      } else if (err != EINVAL) {
        return failed(err, "");
      }
    }
  }
  if (int err = write_all(fd->get(), bytes, done); err != 0) return failed(err, "");
  if (::fsync(fd->get()) != 0) return failed(errno, ": fsync");
  (void)dir.unlink(name);  // an index rebuilt after a crash replaces the old one
  if (auto s = dir.rename(temp, name); !s) {
    (void)dir.unlink(temp);
    return std::move(s).error().wrap("write chunk index");
  }
  return ok_status();
}

using AddressKey = std::array<uint8_t, 17>;  // family, then the address

AddressKey address_key(uint8_t family, const std::array<uint8_t, 16>& address) {
  AddressKey key{};
  key[0] = family;
  std::memcpy(key.data() + 1, address.data(), 16);
  return key;
}

// The lowest and highest key a CIDR contains.
std::pair<AddressKey, AddressKey> cidr_range(const Cidr& cidr) {
  const uint8_t family = cidr.family == AddressFamily::kIPv4 ? 4 : 6;
  const unsigned bits = family == 4 ? 32 : 128;
  AddressKey lo = address_key(family, cidr.address);
  AddressKey hi = lo;
  for (unsigned bit = cidr.prefix_length; bit < bits; ++bit) {
    hi[1 + bit / 8] |= static_cast<uint8_t>(0x80u >> (bit % 8));
  }
  return {lo, hi};
}

}  // namespace

struct ChunkIndex::Header {
  char magic[8];
  uint32_t version;
  uint32_t format;
  uint64_t packets;
  uint64_t first_ns;
  uint64_t last_ns;
  uint32_t interface_bytes;
  uint32_t address_keys;
  uint32_t port_keys;
  uint32_t protocol_keys;
  uint64_t postings;
};

ChunkIndex::ChunkIndex(ChunkIndex&& other) noexcept { *this = std::move(other); }

ChunkIndex& ChunkIndex::operator=(ChunkIndex&& other) noexcept {
  if (this == &other) return *this;
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
  owned_ = std::move(other.owned_);
  mapping_ = std::exchange(other.mapping_, nullptr);
  mapping_size_ = std::exchange(other.mapping_size_, 0);
  bytes_ = mapping_ != nullptr
               ? std::span<const uint8_t>(static_cast<const uint8_t*>(mapping_), mapping_size_)
               : std::span<const uint8_t>(owned_);
  section_start_ = std::move(other.section_start_);
  other.bytes_ = {};
  return *this;
}

ChunkIndex::~ChunkIndex() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
}

const ChunkIndex::Header& ChunkIndex::header() const {
  static_assert(sizeof(Header) == 64);
  return *reinterpret_cast<const Header*>(bytes_.data());
}

std::span<const uint8_t> ChunkIndex::section(size_t which) const {
  return bytes_.subspan(section_start_[which], section_start_[which + 1] - section_start_[which]);
}

uint64_t ChunkIndex::packets() const { return header().packets; }
uint64_t ChunkIndex::first_ns() const { return header().first_ns; }
uint64_t ChunkIndex::last_ns() const { return header().last_ns; }
sink::FileFormat ChunkIndex::format() const {
  return static_cast<sink::FileFormat>(header().format);
}
uint64_t ChunkIndex::offset(uint32_t ordinal) const {
  return get<uint64_t>(section(kPackets).data() + size_t{ordinal} * kPacketEntry);
}
uint64_t ChunkIndex::timestamp(uint32_t ordinal) const {
  return get<uint64_t>(section(kPackets).data() + size_t{ordinal} * kPacketEntry + 8);
}

std::vector<ChunkInterface> ChunkIndex::interfaces() const {
  std::vector<ChunkInterface> out;
  auto s = section(kInterfaces);
  for (size_t o = 0; o + 4 <= s.size();) {
    ChunkInterface itf;
    itf.link_type = static_cast<LinkType>(get<uint16_t>(s.data() + o));
    const uint16_t len = get<uint16_t>(s.data() + o + 2);
    if (o + 4 + len > s.size()) break;
    itf.name.assign(reinterpret_cast<const char*>(s.data() + o + 4), len);
    out.push_back(std::move(itf));
    o += 4 + len;
  }
  return out;
}

ChunkIndexBuilder::ChunkIndexBuilder()
    : flow_cache_(std::make_unique<std::array<uint32_t, kFlowCache>>()),
      frame_cache_(std::make_unique<std::array<FrameSlot, kFrameCache>>()),
      ports_seen_(std::make_unique<std::bitset<65536>>()),
      addresses_seen_(std::make_unique<std::array<SeenAddress, kAddressCache>>()) {}

ChunkIndexBuilder::~ChunkIndexBuilder() = default;
ChunkIndexBuilder::ChunkIndexBuilder(ChunkIndexBuilder&&) noexcept = default;
ChunkIndexBuilder& ChunkIndexBuilder::operator=(ChunkIndexBuilder&&) noexcept = default;

namespace {

// Faults in the first `bytes` of a reserved vector's storage, so the writer does not (a failure
// only leaves the faults to the writer).
template <typename T>
void prefault(const std::vector<T>& v, size_t bytes) {
  bytes = std::min(bytes, v.capacity() * sizeof(T));
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<uintptr_t>(v.data()) + page - 1) & ~(page - 1);
  const auto end = (reinterpret_cast<uintptr_t>(v.data()) + bytes) & ~(page - 1);
  if (end > begin) {
    (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
  }
}

}  // namespace

void ChunkIndexBuilder::reserve(size_t packets) {
  packets_.reserve(packets);
  packet_flows_.reserve(packets);
  flows_.reserve(packets);  // at most one per packet; only the flows added are touched
  flow_postings_.reserve(packets);
  capacity_ = packets;
  // The packet tables in proportion (20 bytes a packet); flows are few.
  const size_t packet_bytes = kPrefaultBytes / (sizeof(Packet) + 4) * sizeof(Packet);
  prefault(packets_, packet_bytes);
  prefault(packet_flows_, kPrefaultBytes - packet_bytes);
}

void ChunkIndexBuilder::clear() noexcept {
  packets_.clear();
  packet_flows_.clear();
  flows_.clear();
  flow_postings_.clear();
  flow_cache_->fill(0);
  last_flow_ = 0;
  last_key_ = {0xff};
  last_frame_ = CommonFrameKey{};
  frame_cache_->fill(FrameSlot{});
  capacity_ = 0;
  postings_ = address_keys_ = port_keys_ = protocol_keys_ = 0;
  ports_seen_->reset();
  protocols_seen_.reset();
  addresses_seen_->fill(SeenAddress{});
  interface_block_count_ = 0;
}

void ChunkIndexBuilder::count_address(uint8_t family,
                                      const std::array<uint8_t, 16>& address) noexcept {
  SeenAddress key{};
  std::memcpy(&key.low, address.data(), 8);
  std::memcpy(&key.high, address.data() + 8, 8);
  key.family = family;
  const uint64_t hash =
      (key.low ^ (key.high * 0x9e3779b97f4a7c15ull) ^ family) * 0xff51afd7ed558ccdull;
  SeenAddress& slot = (*addresses_seen_)[(hash >> 32) % kAddressCache];
  if (slot.low != key.low || slot.high != key.high || slot.family != key.family) {
    slot = key;
    ++address_keys_;
  }
}

uint32_t ChunkIndexBuilder::flow_of(const PacketInfo& info) noexcept {
  const bool v4 = info.ip_version == 4;
  const uint64_t s0 = v4 ? ipv4_word(info.source) : word(info.source, 0);
  const uint64_t s1 = v4 ? 0 : word(info.source, 8);
  const uint64_t d0 = v4 ? ipv4_word(info.destination) : word(info.destination, 0);
  const uint64_t d1 = v4 ? 0 : word(info.destination, 8);
  const uint64_t rest = small_fields(info);
  const uint64_t hash = ((s0 ^ s1 * 0x9e3779b97f4a7c15ull) + (d0 ^ d1 * 0xc2b2ae3d27d4eb4full) +
                         rest * 0x165667b19e3779f9ull) *
                        0xff51afd7ed558ccdull;
  uint32_t& slot = (*flow_cache_)[(hash >> 40) % kFlowCache];
  if (slot != 0 && same_flow(flows_[slot - 1], info)) return last_flow_ = slot - 1;
  return last_flow_ = new_flow(info, slot);
}

// A flow not seen lately: its entry, the postings its packets add, and its keys for
// size_bound() (a flow seen before counted them then, so skipping them for its later packets
// keeps the counts upper bounds).
uint32_t ChunkIndexBuilder::new_flow(const PacketInfo& info, uint32_t& slot) noexcept {
  const Flow flow{info.source,     info.destination, info.source_port,  info.destination_port,
                  info.ip_version, info.protocol,    info.has_protocol, info.has_ports};
  uint8_t postings = 0;
  if (flow.ip_version != 0) {
    count_address(flow.ip_version, flow.source);
    ++postings;
    if (flow.destination != flow.source) {
      count_address(flow.ip_version, flow.destination);
      ++postings;
    }
  }
  if (flow.has_ports) {
    postings += flow.destination_port != flow.source_port ? 2 : 1;
    for (uint16_t port : {flow.source_port, flow.destination_port}) {
      if (!ports_seen_->test(port)) {
        ports_seen_->set(port);
        ++port_keys_;
      }
    }
  }
  if (flow.has_protocol) {
    ++postings;
    if (!protocols_seen_.test(flow.protocol)) {
      protocols_seen_.set(flow.protocol);
      ++protocol_keys_;
    }
  }
  flows_.push_back(flow);
  flow_postings_.push_back(postings);
  slot = static_cast<uint32_t>(flows_.size());
  return slot - 1;
}

void ChunkIndexBuilder::note_interface_block(uint64_t offset) noexcept {
  if (interface_block_count_ < interface_blocks_.size())
    interface_blocks_[interface_block_count_++] = offset;
}

uint64_t ChunkIndexBuilder::size_bound() const noexcept {
  return sizeof(ChunkIndex::Header) + packets_.size() * kPacketEntry +
         address_keys_ * kAddressEntry + port_keys_ * kPortEntry + protocol_keys_ * kProtocolEntry +
         postings_ * kPostingEntry + interface_block_count_ * (4 + kMaxInterfaceName);
}

Result<ChunkIndex> ChunkIndex::build(ChunkReader& reader) {
  ChunkIndexBuilder builder;
  for (;;) {
    auto next = reader.next();
    if (!next) return std::move(next).error().wrap("build chunk index");
    if (!*next) break;
    const ChunkPacket& p = **next;
    builder.add(p.offset, p.timestamp_ns, p.data, reader.link_type(p));
  }
  return builder.finish(reader.format(), reader.interfaces());
}

Result<std::vector<ChunkInterface>> ChunkIndexBuilder::interface_table(Fd chunk) const {
  if (interface_block_count_ == 0) return std::vector<ChunkInterface>{};
  auto reader = ChunkReader::open(std::move(chunk));
  if (!reader) return std::move(reader).error();
  for (uint64_t offset : interface_blocks()) {
    if (auto s = reader->read_interface_block(offset); !s) return std::move(s).error();
  }
  return reader->interfaces();
}

Result<ChunkIndex> ChunkIndexBuilder::finish(sink::FileFormat format, Fd chunk) const {
  auto interfaces = interface_table(std::move(chunk));
  if (!interfaces) return std::move(interfaces).error().wrap("finish chunk index");
  return finish(format, *interfaces);
}

void ChunkIndexBuilder::build(sink::FileFormat format,
                              const std::vector<ChunkInterface>& interface_table, IndexBytes& out,
                              std::vector<size_t>& section_start) const {
  using Header = ChunkIndex::Header;
  // Keys, numbered in file order: the distinct addresses sorted by (family, address), then the
  // ports, then the protocols, ascending. Only the flows' values are sorted, never the packets.
  std::vector<AddressKey> addresses;
  addresses.reserve(flows_.size() * 2);
  for (const Flow& f : flows_) {
    if (f.ip_version == 0) continue;
    addresses.push_back(address_key(f.ip_version, f.source));
    if (f.destination != f.source) addresses.push_back(address_key(f.ip_version, f.destination));
  }
  std::sort(addresses.begin(), addresses.end());
  addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
  std::vector<uint32_t> port_key(65536, UINT32_MAX);
  std::array<uint32_t, 256> protocol_key;
  protocol_key.fill(UINT32_MAX);
  for (const Flow& f : flows_) {
    if (f.has_ports) port_key[f.source_port] = port_key[f.destination_port] = 0;
    if (f.has_protocol) protocol_key[f.protocol] = 0;
  }
  std::vector<uint16_t> ports;
  uint32_t keys = static_cast<uint32_t>(addresses.size());
  for (uint32_t port = 0; port < 65536; ++port) {
    if (port_key[port] == UINT32_MAX) continue;
    port_key[port] = keys++;
    ports.push_back(static_cast<uint16_t>(port));
  }
  std::vector<uint8_t> protocols;
  for (uint32_t protocol = 0; protocol < 256; ++protocol) {
    if (protocol_key[protocol] == UINT32_MAX) continue;
    protocol_key[protocol] = keys++;
    protocols.push_back(static_cast<uint8_t>(protocol));
  }

  // Each flow's keys (at most five: two addresses, two ports, a protocol), in file order.
  struct FlowKeys {
    std::array<uint32_t, 5> key;
    uint32_t count = 0;
  };
  std::vector<FlowKeys> flow_keys(flows_.size());
  auto address_id = [&](uint8_t family, const std::array<uint8_t, 16>& a) {
    const AddressKey k = address_key(family, a);
    return static_cast<uint32_t>(std::lower_bound(addresses.begin(), addresses.end(), k) -
                                 addresses.begin());
  };
  for (size_t i = 0; i < flows_.size(); ++i) {
    const Flow& f = flows_[i];
    FlowKeys& k = flow_keys[i];
    if (f.ip_version != 0) {
      k.key[k.count++] = address_id(f.ip_version, f.source);
      if (f.destination != f.source) k.key[k.count++] = address_id(f.ip_version, f.destination);
    }
    if (f.has_ports) {
      k.key[k.count++] = port_key[f.source_port];
      if (f.destination_port != f.source_port) k.key[k.count++] = port_key[f.destination_port];
    }
    if (f.has_protocol) k.key[k.count++] = protocol_key[f.protocol];
  }

  // Postings by counting: packets per flow, then per key (its first posting), then every
  // packet's ordinal at its keys' next places, in packet order (so ascending per key).
  std::vector<uint64_t> flow_packets(flows_.size(), 0);
  uint64_t first = 0, last = 0;
  for (size_t i = 0; i < packets_.size(); ++i) {
    ++flow_packets[packet_flows_[i]];
    const uint64_t t = packets_[i].timestamp_ns;
    if (i == 0) first = t;
    first = std::min(first, t);
    last = std::max(last, t);
  }
  std::vector<uint32_t> key_first(size_t{keys} + 1, 0);
  for (size_t i = 0; i < flows_.size(); ++i) {
    for (uint32_t j = 0; j < flow_keys[i].count; ++j) {
      key_first[flow_keys[i].key[j] + 1] += static_cast<uint32_t>(flow_packets[i]);
    }
  }
  for (uint32_t k = 0; k < keys; ++k) key_first[k + 1] += key_first[k];
  const uint64_t total_postings = key_first[keys];

  std::vector<uint8_t> interfaces;
  for (const auto& itf : interface_table) {
    put<uint16_t>(interfaces, static_cast<uint16_t>(itf.link_type));
    const auto len = static_cast<uint16_t>(std::min<size_t>(itf.name.size(), kMaxInterfaceName));
    put<uint16_t>(interfaces, len);
    interfaces.insert(interfaces.end(), itf.name.begin(), itf.name.begin() + len);
  }

  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kVersion;
  h.format = static_cast<uint32_t>(format);
  h.packets = packets_.size();
  h.first_ns = first;
  h.last_ns = last;
  h.postings = total_postings;
  h.address_keys = static_cast<uint32_t>(addresses.size());
  h.port_keys = static_cast<uint32_t>(ports.size());
  h.protocol_keys = static_cast<uint32_t>(protocols.size());
  h.interface_bytes = static_cast<uint32_t>(interfaces.size());

  // The file's bytes, written in place (out is resized once: a reused buffer is not zeroed).
  section_start = {sizeof(Header)};
  for (size_t n : {h.packets * kPacketEntry, size_t{h.address_keys} * kAddressEntry,
                   size_t{h.port_keys} * kPortEntry, size_t{h.protocol_keys} * kProtocolEntry,
                   h.postings * kPostingEntry, size_t{h.interface_bytes}}) {
    section_start.push_back(section_start.back() + n);
  }
  out.resize(section_start.back());
  uint8_t* at = out.data();
  auto put_at = [&at](const void* p, size_t n) {
    if (n == 0) return;  // p may be an empty table's null data()
    std::memcpy(at, p, n);
    at += n;
  };
  put_at(&h, sizeof h);
  static_assert(sizeof(Packet) == kPacketEntry, "packets are kept as the file holds them");
  put_at(packets_.data(), packets_.size() * kPacketEntry);
  // One key entry per distinct value: its first posting and how many follow.
  auto put_range = [&](uint32_t key) {
    const uint32_t range[2] = {key_first[key], key_first[key + 1] - key_first[key]};
    put_at(range, sizeof range);
  };
  uint32_t key = 0;
  for (const AddressKey& a : addresses) {
    const uint8_t family[4] = {a[0], 0, 0, 0};
    put_at(family, sizeof family);
    put_at(a.data() + 1, a.size() - 1);
    put_range(key++);
  }
  for (uint16_t port : ports) {
    const uint16_t entry[2] = {port, 0};
    put_at(entry, sizeof entry);
    put_range(key++);
  }
  for (uint8_t protocol : protocols) {
    const uint8_t entry[4] = {protocol, 0, 0, 0};
    put_at(entry, sizeof entry);
    put_range(key++);
  }
  // Postings by counting, straight into their section: every packet's ordinal at its keys' next
  // places, in packet order (so ascending per key).
  {
    uint8_t* postings = at;
    std::vector<uint32_t> next(key_first.begin(), key_first.end() - 1);
    for (size_t i = 0; i < packets_.size(); ++i) {
      const FlowKeys& k = flow_keys[packet_flows_[i]];
      const auto ordinal = static_cast<uint32_t>(i);
      for (uint32_t j = 0; j < k.count; ++j) {
        std::memcpy(postings + size_t{next[k.key[j]]++} * kPostingEntry, &ordinal, kPostingEntry);
      }
    }
    at += total_postings * kPostingEntry;
  }
  put_at(interfaces.data(), interfaces.size());
}

ChunkIndex ChunkIndexBuilder::finish(sink::FileFormat format,
                                     const std::vector<ChunkInterface>& interfaces) const {
  ChunkIndex index;
  build(format, interfaces, index.owned_, index.section_start_);
  index.bytes_ = std::span<const uint8_t>(index.owned_.data(), index.owned_.size());
  return index;
}

Status ChunkIndexBuilder::write(const storage::Directory& dir, std::string_view name,
                                sink::FileFormat format, Fd chunk, IndexBytes& out) const {
  auto interfaces = interface_table(std::move(chunk));
  if (!interfaces) return std::move(interfaces).error().wrap("write chunk index");
  std::vector<size_t> section_start;
  build(format, *interfaces, out, section_start);
  return write_index_file(dir, name, std::span<const uint8_t>(out.data(), out.size()));
}

Result<ChunkIndex> ChunkIndex::load(const storage::Directory& dir, std::string_view name) {
  auto fd = dir.open_file(name, O_RDONLY);
  if (!fd) return std::move(fd).error().wrap("load chunk index");
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) {
    return Error::from_errno(fmt::format("load chunk index {}: stat", name), errno);
  }
  const auto size = static_cast<size_t>(st.st_size);
  auto invalid = [&](std::string_view why) {
    return Error(ErrorCode::kInvalidArgument, fmt::format("load chunk index {}: {}", name, why));
  };
  if (size < sizeof(Header)) return invalid("shorter than its header");
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd->get(), 0);
  if (map == MAP_FAILED) {
    return Error::from_errno(fmt::format("load chunk index {}: mmap", name), errno);
  }
  ChunkIndex index;
  index.mapping_ = map;
  index.mapping_size_ = size;
  index.bytes_ = {static_cast<const uint8_t*>(map), size};
  const Header& h = index.header();
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0 || h.version != kVersion) {
    return invalid("not a chunk index of this version");
  }
  index.section_start_ = {sizeof(Header)};
  for (uint64_t n : {h.packets * kPacketEntry, uint64_t{h.address_keys} * kAddressEntry,
                     uint64_t{h.port_keys} * kPortEntry, uint64_t{h.protocol_keys} * kProtocolEntry,
                     h.postings * kPostingEntry, uint64_t{h.interface_bytes}}) {
    if (n > size) return invalid("a section is larger than the file");
    index.section_start_.push_back(index.section_start_.back() + static_cast<size_t>(n));
  }
  if (index.section_start_.back() != size) return invalid("its size does not match its header");
  return index;
}

Status ChunkIndex::write(const storage::Directory& dir, std::string_view name) const {
  return write_index_file(dir, name, bytes_);
}

void ChunkIndex::candidates_of(const Filter& filter, const IndexQuery& query,
                               std::vector<uint32_t>& out) const {
  const Header& h = header();
  // Posting ranges [first, first + count) of the most selective field.
  std::vector<std::pair<uint32_t, uint32_t>> best;
  uint64_t best_count = UINT64_MAX;
  auto consider = [&](std::vector<std::pair<uint32_t, uint32_t>> ranges) {
    uint64_t n = 0;
    for (const auto& r : ranges) n += r.second;
    if (n < best_count) {
      best_count = n;
      best = std::move(ranges);
    }
  };
  auto keyed = [&](Section s, size_t entry, size_t keys, auto key_of, auto lo, auto hi) {
    const uint8_t* base = section(s).data();
    // Keys are sorted: binary search the first key >= lo, then walk while <= hi.
    size_t a = 0, b = keys;
    while (a < b) {
      const size_t m = (a + b) / 2;
      if (key_of(base + m * entry) < lo) {
        a = m + 1;
      } else {
        b = m;
      }
    }
    std::vector<std::pair<uint32_t, uint32_t>> ranges;
    for (size_t i = a; i < keys && !(hi < key_of(base + i * entry)); ++i) {
      const uint8_t* e = base + i * entry;
      ranges.emplace_back(get<uint32_t>(e + entry - 8), get<uint32_t>(e + entry - 4));
    }
    consider(std::move(ranges));
  };
  auto address_of = [](const uint8_t* e) {
    AddressKey k;
    k[0] = e[0];
    std::memcpy(k.data() + 1, e + 4, 16);
    return k;
  };
  for (const Cidr* cidr : {&filter.source, &filter.destination}) {
    if (cidr->family == AddressFamily::kAny) continue;
    const auto [lo, hi] = cidr_range(*cidr);
    keyed(kAddresses, kAddressEntry, h.address_keys, address_of, lo, hi);
  }
  auto port_of = [](const uint8_t* e) { return get<uint16_t>(e); };
  for (uint16_t port : {filter.source_port, filter.destination_port}) {
    if (port != 0) keyed(kPorts, kPortEntry, h.port_keys, port_of, port, port);
  }
  if (filter.protocol != Protocol::kAny) {
    const auto proto = static_cast<uint8_t>(filter.protocol);
    keyed(
        kProtocols, kProtocolEntry, h.protocol_keys, [](const uint8_t* e) { return e[0]; }, proto,
        proto);
  }
  auto in_range = [&](uint32_t ordinal) {
    const uint64_t t = timestamp(ordinal);
    return t >= query.from_ns && t <= query.to_ns;
  };
  if (best_count == UINT64_MAX) {  // no field set: every packet in the time range
    for (uint32_t i = 0; i < h.packets; ++i) {
      if (in_range(i)) out.push_back(i);
    }
    return;
  }
  const uint8_t* postings = section(kPostings).data();
  for (const auto& [first, count] : best) {
    for (uint32_t i = 0; i < count; ++i) {
      const auto ordinal = get<uint32_t>(postings + (size_t{first} + i) * kPostingEntry);
      if (ordinal < h.packets && in_range(ordinal)) out.push_back(ordinal);
    }
  }
}

std::vector<uint32_t> ChunkIndex::candidates(const IndexQuery& query) const {
  std::vector<uint32_t> out;
  if (packets() == 0 || query.to_ns < first_ns() || query.from_ns > last_ns()) return out;
  if (query.filters.empty()) {
    const Filter any;
    candidates_of(any, query, out);
  } else {
    for (const Filter& f : query.filters) candidates_of(f, query, out);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace recorder::ring
