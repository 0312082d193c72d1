#include "relay/merge.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <queue>
#include <tuple>

#include "relay/pcapng_reader.h"
#include "sink/pcapng_encoder.h"

namespace recorder::relay {
namespace {

constexpr size_t kOutputBuffer = 1u << 20;
constexpr uint32_t kPcapMagicNanoseconds = 0xa1b23c4d;

// Appends little-endian values and pcapng options to a block under construction.
class BlockBuilder {
 public:
  explicit BlockBuilder(uint32_t type) { u32(type).u32(0); }
  BlockBuilder& u16(uint16_t v) { return raw(&v, sizeof(v)); }
  BlockBuilder& u32(uint32_t v) { return raw(&v, sizeof(v)); }
  BlockBuilder& u64(uint64_t v) { return raw(&v, sizeof(v)); }
  BlockBuilder& option(uint16_t code, std::string_view value) {
    // An option value is at most 65535 bytes; longer text is cut (a comment, a name).
    const auto len = static_cast<uint16_t>(std::min<size_t>(value.size(), 65532));
    u16(code).u16(len).raw(value.data(), len);
    static constexpr uint8_t zeros[4] = {};
    return raw(zeros, (4 - len % 4) % 4);
  }
  // Closes the options and the block; returns the block bytes.
  std::vector<uint8_t>& finish() {
    u16(0).u16(0);
    const auto total = static_cast<uint32_t>(bytes_.size() + 4);
    u32(total);
    std::memcpy(bytes_.data() + 4, &total, sizeof(total));
    return bytes_;
  }

 private:
  BlockBuilder& raw(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
    return *this;
  }
  std::vector<uint8_t> bytes_;
};

class Output {
 public:
  static Result<std::unique_ptr<Output>> create(const std::filesystem::path& path) {
    // Captures hold passwords and personal data: only the relay's user may read them.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return Error::from_errno("create " + path.string(), errno);
    std::FILE* f = ::fdopen(fd, "wb");
    if (f == nullptr) {
      const int err = errno;
      ::close(fd);
      return Error::from_errno("create " + path.string(), err);
    }
    return std::unique_ptr<Output>(new Output(path, f));
  }
  ~Output() {
    if (file_ != nullptr) std::fclose(file_);
  }
  void write(const void* p, size_t n) {
    if (error_ == 0 && std::fwrite(p, 1, n, file_) != n) error_ = errno != 0 ? errno : EIO;
  }
  Status close() {
    if (error_ == 0 && std::fflush(file_) != 0) error_ = errno;
    if (error_ == 0 && ::fsync(::fileno(file_)) != 0) error_ = errno;
    const int rc = std::fclose(file_);
    file_ = nullptr;
    if (error_ == 0 && rc != 0) error_ = errno;
    if (error_ != 0) return Error::from_errno("write " + path_.string(), error_);
    return ok_status();
  }

 private:
  Output(std::filesystem::path path, std::FILE* f)
      : path_(std::move(path)), file_(f), buffer_(kOutputBuffer) {
    std::setvbuf(file_, buffer_.data(), _IOFBF, buffer_.size());
  }
  std::filesystem::path path_;
  std::FILE* file_;
  std::vector<char> buffer_;
  int error_ = 0;
};

struct Source {
  std::unique_ptr<PcapngReader> reader;
  PcapngPacket packet;
  uint32_t first_interface = 0;  // its interfaces' ids in the merged file start here
  uint64_t sequence = 0;         // packets taken from it so far
};

// Advances `source` to its next packet; false at its end or on an error (noted in `result`).
bool advance(Source& source, MergeInputResult& result) {
  auto got = source.reader->next(source.packet);
  if (!got) {
    result.error = got.error().message();
    return false;
  }
  return *got;
}

std::string interface_label(const MergeInput& input, const PcapngInterface& itf, size_t index) {
  return input.node + "/" + (itf.name.empty() ? fmt::format("if{}", index) : itf.name);
}

}  // namespace

Result<MergeResult> merge_captures(const std::vector<MergeInput>& inputs,
                                   const std::filesystem::path& output, sink::FileFormat format,
                                   const std::string& comment) {
  MergeResult result;
  result.inputs.resize(inputs.size());
  std::vector<Source> sources(inputs.size());
  uint32_t interface_count = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto reader = PcapngReader::open(inputs[i].path);
    if (!reader) {
      result.inputs[i].error = reader.error().message();
      continue;
    }
    if (auto s = (*reader)->scan_interfaces(); !s) {
      result.inputs[i].error = s.error().message();
      continue;
    }
    sources[i].reader = std::move(*reader);
    sources[i].first_interface = interface_count;
    interface_count += static_cast<uint32_t>(sources[i].reader->interfaces().size());
  }

  // pcap has one link type per file: check them all before writing anything.
  uint16_t pcap_link_type = 1;  // Ethernet when there is no interface at all
  uint32_t pcap_snap_length = 0;
  if (format == sink::FileFormat::kPcap) {
    std::string first_label;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!sources[i].reader) continue;
      const auto& itfs = sources[i].reader->interfaces();
      for (size_t k = 0; k < itfs.size(); ++k) {
        pcap_snap_length = std::max(pcap_snap_length, itfs[k].snap_length);
        if (first_label.empty()) {
          first_label = interface_label(inputs[i], itfs[k], k);
          pcap_link_type = itfs[k].link_type;
        } else if (itfs[k].link_type != pcap_link_type) {
          return Error(ErrorCode::kInvalidArgument,
                       fmt::format("format pcap needs one link type for every node, but {} has "
                                   "link type {} and {} has {}: record as pcapng",
                                   first_label, pcap_link_type,
                                   interface_label(inputs[i], itfs[k], k), itfs[k].link_type));
        }
      }
    }
    if (pcap_snap_length == 0) pcap_snap_length = 262144;
  }

  auto out = Output::create(output);
  if (!out) return out.error();
  if (format == sink::FileFormat::kPcap) {
    uint8_t header[24];
    const uint32_t magic = kPcapMagicNanoseconds;
    const uint16_t major = 2, minor = 4;
    const uint32_t zero = 0, link = pcap_link_type;
    std::memcpy(header, &magic, 4);
    std::memcpy(header + 4, &major, 2);
    std::memcpy(header + 6, &minor, 2);
    std::memcpy(header + 8, &zero, 4);
    std::memcpy(header + 12, &zero, 4);
    std::memcpy(header + 16, &pcap_snap_length, 4);
    std::memcpy(header + 20, &link, 4);
    (*out)->write(header, sizeof(header));
  } else {
    BlockBuilder shb(sink::PcapngEncoder::kBlockSectionHeader);
    shb.u32(0x1A2B3C4D).u16(1).u16(0).u64(~uint64_t{0});
    shb.option(1, comment).option(4, "pcap-recorder recorder-relay");
    auto& bytes = shb.finish();
    (*out)->write(bytes.data(), bytes.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!sources[i].reader) continue;
      const auto& itfs = sources[i].reader->interfaces();
      for (size_t k = 0; k < itfs.size(); ++k) {
        const std::string name = itfs[k].name.empty() ? fmt::format("if{}", k) : itfs[k].name;
        BlockBuilder idb(sink::PcapngEncoder::kBlockInterfaceDescription);
        idb.u16(itfs[k].link_type).u16(0).u32(itfs[k].snap_length);
        idb.option(2, inputs[i].node + "/" + name);
        idb.option(
            3, fmt::format("node {} ({}), interface {}{}", inputs[i].node, inputs[i].address, name,
                           itfs[k].description.empty() ? "" : ": " + itfs[k].description));
        const char tsresol[1] = {static_cast<char>(itfs[k].tsresol)};
        idb.option(9, std::string_view(tsresol, 1));
        auto& idb_bytes = idb.finish();
        (*out)->write(idb_bytes.data(), idb_bytes.size());
      }
    }
  }

  // The heap holds (timestamp, source, sequence) of every source's current packet.
  using Key = std::tuple<uint64_t, size_t, uint64_t>;
  std::priority_queue<Key, std::vector<Key>, std::greater<>> heap;
  for (size_t i = 0; i < sources.size(); ++i) {
    if (sources[i].reader && advance(sources[i], result.inputs[i])) {
      heap.emplace(sources[i].packet.timestamp_ns, i, sources[i].sequence);
    }
  }
  while (!heap.empty()) {
    const size_t i = std::get<1>(heap.top());
    heap.pop();
    Source& s = sources[i];
    const PcapngPacket& p = s.packet;
    if (format == sink::FileFormat::kPcap) {
      uint32_t header[4] = {static_cast<uint32_t>(p.timestamp_ns / 1000000000u),
                            static_cast<uint32_t>(p.timestamp_ns % 1000000000u), p.captured_length,
                            p.original_length};
      (*out)->write(header, sizeof(header));
      (*out)->write(p.data.data(), p.data.size());
    } else {
      // The block as the node wrote it, with the interface id (bytes 8..11) renumbered.
      const uint32_t id = s.first_interface + p.interface_id;
      (*out)->write(p.block.data(), 8);
      (*out)->write(&id, sizeof(id));
      (*out)->write(p.block.data() + 12, p.block.size() - 12);
    }
    ++result.inputs[i].packets;
    ++result.packets;
    result.bytes_captured += p.captured_length;
    ++s.sequence;
    if (advance(s, result.inputs[i])) heap.emplace(s.packet.timestamp_ns, i, s.sequence);
  }
  // pcapng: each node's interface statistics (its drop counts), after every packet as the nodes
  // wrote them, with the interface ids renumbered.
  if (format == sink::FileFormat::kPcapng) {
    for (const Source& s : sources) {
      if (!s.reader) continue;
      for (const auto& isb : s.reader->statistics()) {
        uint32_t id;
        std::memcpy(&id, isb.data() + 8, sizeof(id));
        if (id >= s.reader->interfaces().size()) continue;
        id += s.first_interface;
        (*out)->write(isb.data(), 8);
        (*out)->write(&id, sizeof(id));
        (*out)->write(isb.data() + 12, isb.size() - 12);
      }
    }
  }
  if (auto s = (*out)->close(); !s) return s.error();
  return result;
}

}  // namespace recorder::relay
