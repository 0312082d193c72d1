#include "datapath/loader.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "datapath/libbpf_log.h"
#include "recorder/recorder.skel.h"
#include "recorder/recorder_abi.h"

namespace recorder::datapath {
namespace {

// The value of the object's `recorder_abi_version` (a const volatile u32 in .rodata), found by
// name in the object's BTF rather than at the offset this program's skeleton assumes.
Result<uint32_t> object_abi_version(const bpf_object* object) {
  const btf* types = bpf_object__btf(object);
  const bpf_map* rodata = nullptr;
  bpf_map* m = nullptr;
  bpf_object__for_each_map(m, object) {
    const char* name = bpf_map__name(m);
    const size_t len = std::strlen(name);
    if (len >= 7 && std::strcmp(name + len - 7, ".rodata") == 0) rodata = m;
  }
  const int sec =
      types == nullptr ? -1 : btf__find_by_name_kind(types, ".rodata", BTF_KIND_DATASEC);
  if (rodata == nullptr || sec < 0) {
    return Error(ErrorCode::kFailedPrecondition,
                 "the object has no .rodata with BTF: not a recorder BPF object");
  }
  const btf_type* datasec = btf__type_by_id(types, sec);
  const btf_var_secinfo* var = btf_var_secinfos(datasec);
  for (int i = 0; i < btf_vlen(datasec); ++i, ++var) {
    const btf_type* v = btf__type_by_id(types, var->type);
    if (std::strcmp(btf__name_by_offset(types, v->name_off), "recorder_abi_version") != 0) continue;
    size_t size = 0;
    const void* data = bpf_map__initial_value(const_cast<bpf_map*>(rodata), &size);
    if (data == nullptr || var->size != sizeof(uint32_t) || var->offset + var->size > size) break;
    uint32_t version;
    std::memcpy(&version, static_cast<const uint8_t*>(data) + var->offset, sizeof(version));
    return version;
  }
  return Error(ErrorCode::kFailedPrecondition,
               "the object states no recorder_abi_version: not a recorder BPF object");
}

// Opens the skeleton on the embedded object or, with a path, on that file's bytes (the skeleton
// binds maps and programs by name, so another build with the same names fits).
Result<recorder_bpf*> open_skeleton(const std::string& path, std::string& bytes) {
  auto* skel = static_cast<recorder_bpf*>(calloc(1, sizeof(recorder_bpf)));
  if (skel == nullptr) return Error(ErrorCode::kResourceExhausted, "allocate the BPF skeleton");
  if (recorder_bpf__create_skeleton(skel) != 0) {
    recorder_bpf__destroy(skel);
    return Error::from_errno("create the BPF skeleton", errno, ErrorCode::kUnavailable);
  }
  if (!path.empty()) {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      recorder_bpf__destroy(skel);
      return Error(ErrorCode::kNotFound, fmt::format("read the BPF object {}", path));
    }
    skel->skeleton->data = bytes.data();
    skel->skeleton->data_sz = bytes.size();
  }
  if (int err = bpf_object__open_skeleton(skel->skeleton, nullptr); err != 0) {
    recorder_bpf__destroy(skel);
    return Error::from_errno(
        fmt::format("open the recorder BPF object{}", path.empty() ? "" : " " + path), -err,
        ErrorCode::kUnavailable);
  }
  return skel;
}

}  // namespace

size_t per_cpu_buffer_bytes(size_t requested) {
  size_t bytes = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  while (bytes < requested) bytes <<= 1;
  return bytes;
}

size_t reader_wakeup_bytes(size_t buffer_bytes) {
  return std::min<size_t>(2u << 20, buffer_bytes / 4);
}

BpfObject::~BpfObject() {
  for (int fd : ring_fds_) close(fd);
  if (skel_ != nullptr) recorder_bpf__destroy(skel_);
}

bool BpfObject::ring_buffer_supported() {
  return libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 1 &&
         libbpf_probe_bpf_map_type(BPF_MAP_TYPE_ARRAY_OF_MAPS, nullptr) == 1;
}

Result<std::unique_ptr<BpfObject>> BpfObject::load(const LoadOptions& options) {
  std::unique_ptr<BpfObject> obj(new BpfObject());
  obj->transport_ = options.transport;
  obj->num_cpus_ = libbpf_num_possible_cpus();
  if (obj->num_cpus_ <= 0) {
    return Error::from_errno("count possible CPUs for the BPF buffers", obj->num_cpus_,
                             ErrorCode::kUnavailable);
  }

  const LibbpfLog log;  // libbpf's output during the load, for the error if it fails

  auto opened = open_skeleton(options.object_path, obj->object_bytes_);
  if (!opened) return std::move(opened).error();
  obj->skel_ = *opened;
  recorder_bpf* skel = obj->skel_;
  // The ABI check: the object states the layout it was compiled against.
  auto version = object_abi_version(skel->obj);
  if (!version) return std::move(version).error().wrap("load the recorder BPF object");
  if (*version != RECORDER_ABI_VERSION) {
    return Error(ErrorCode::kFailedPrecondition,
                 fmt::format("load the recorder BPF object{}: its ABI version {} does not match "
                             "version {} of this program (rebuild both from one tree)",
                             options.object_path.empty() ? "" : " " + options.object_path, *version,
                             RECORDER_ABI_VERSION));
  }
  const bool ring = options.transport == BpfTransport::kRingBuffer;
  skel->rodata->recorder_use_ringbuf = ring ? 1 : 0;
  const size_t ring_bytes =
      per_cpu_buffer_bytes(std::max<size_t>(options.ring_bytes_per_cpu, 1u << 16));
  skel->rodata->recorder_rb_wakeup_bytes = reader_wakeup_bytes(ring_bytes);
  if (ring) {
    // The per-CPU ring buffers exist before load: the first one also serves as the outer
    // map's inner-map template. (libbpf 1.1 crashes in bpf_map__set_max_entries on the
    // BTF-declared inner map, whose obj pointer it leaves unset, so the template from the
    // object's BTF is replaced by this fd.)
    for (int cpu = 0; cpu < obj->num_cpus_; ++cpu) {
      const std::string name = fmt::format("recorder_rb{}", cpu);
      int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, name.c_str(), 0, 0, ring_bytes, nullptr);
      if (fd < 0) {
        return Error::from_errno(fmt::format("create the ring buffer of CPU {}", cpu), errno,
                                 ErrorCode::kResourceExhausted);
      }
      obj->ring_fds_.push_back(fd);
    }
    int err = bpf_map__set_max_entries(skel->maps.recorder_ringbufs, obj->num_cpus_);
    if (err == 0) err = bpf_map__set_inner_map_fd(skel->maps.recorder_ringbufs, obj->ring_fds_[0]);
    if (err != 0) return Error::from_errno("size the ring buffer maps", err);
  }

  int err = recorder_bpf__load(skel);
  if (err != 0) {
    return Error(ErrorCode::kUnavailable,
                 fmt::format("load the recorder BPF programs: {} (error {}); libbpf and "
                             "verifier log:\n{}",
                             strerror(-err), err, log.tail()),
                 -err);
  }

  if (ring) {
    const int outer = bpf_map__fd(skel->maps.recorder_ringbufs);
    for (int cpu = 0; cpu < obj->num_cpus_; ++cpu) {
      const uint32_t key = cpu;
      if (bpf_map_update_elem(outer, &key, &obj->ring_fds_[cpu], BPF_ANY) != 0) {
        return Error::from_errno(fmt::format("install the ring buffer of CPU {}", cpu), errno);
      }
    }
  }
  return obj;
}

int BpfObject::program_fd(bool ingress, bool l3) const {
  const struct bpf_program* prog =
      l3 ? (ingress ? skel_->progs.recorder_ingress_l3 : skel_->progs.recorder_egress_l3)
         : (ingress ? skel_->progs.recorder_ingress : skel_->progs.recorder_egress);
  return bpf_program__fd(prog);
}

int BpfObject::events_fd() const { return bpf_map__fd(skel_->maps.recorder_events); }

std::vector<BpfObject::UnclassifiedCounter> BpfObject::unclassified() const {
  const int fd = bpf_map__fd(skel_->maps.recorder_unclassified);
  std::vector<recorder_unclassified> per_cpu(num_cpus_);
  std::vector<UnclassifiedCounter> out;
  recorder_iface_key key{}, next{};
  const recorder_iface_key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    if (bpf_map_lookup_elem(fd, &key, per_cpu.data()) != 0) continue;  // deleted meanwhile
    UnclassifiedCounter c;
    c.ifindex = static_cast<int>(key.ifindex);
    c.direction = static_cast<uint8_t>(key.direction);
    for (const auto& v : per_cpu) {
      c.packets += v.packets;
      c.bytes += v.bytes;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace recorder::datapath
