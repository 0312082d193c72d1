// Ring: one flight-recorder ring: an always-on capture into a sequence of chunk files in its own
// directory, each closed chunk indexed (chunk_index.h), the oldest deleted to stay within the
// budget (retention.h), and the packets of a time range read back for snapshots.
//
// Capture is a Recording with a RotatingSink, routed by the host like any recording: rotation
// happens on the hot path without waiting (rotating_sink.h), by size or by the time between a
// chunk's first packet and the packet at hand (so a ring that takes no packets does not rotate);
// everything slow (opening the next chunk, closing and indexing a full one, deleting old ones)
// happens in maintain(), which the RingManager's thread calls when a ring rotated, a chunk was
// closed, or a chunk's max_age expiry (expiry()) came. Capture never waits for it.
//
// At open, partial chunks a crash left are repaired (sink/recovery.h), chunks without an index
// are indexed, empty ones removed. State is persisted in "ring.json" (ring_spec.h).
//
// Threads: control_mutex_ serializes the control operations (start, stop, maintain, remove);
// close_mutex_ the closing and indexing of full chunks (close_chunks(), on its own thread, so a
// chunk's final writes and fsync never delay handing the producer its next chunk);
// mutex_ guards what status() and snapshots read, and is held only briefly. A chunk the producer
// may write is taken from the RotatingSink only under mutex_, so a snapshot that holds mutex_
// may read the current chunk's counters.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "ring/chunk_index.h"
#include "ring/retention.h"
#include "ring/ring_host.h"
#include "ring/ring_spec.h"
#include "ring/rotating_sink.h"
#include "ring/snapshot.h"
#include "storage/directory.h"

namespace recorder::ring {

struct RingOptions {
  storage::Permissions permissions;
  size_t queue_bytes = 16u << 20;  // each chunk sink's queue (a ring holds up to three)
  uint64_t min_free_disk = 0;      // the daemon's --min-free-disk
  RotationWake wake;               // called by the producer when it left a full chunk
};

struct RingStatus {
  RingSpec spec;
  bool running = false;
  RecordingStats stats;         // since the ring (re)started in this process
  uint64_t chunks = 0;          // on disk, the one being written included
  uint64_t bytes = 0;           // chunks and indexes on disk
  uint64_t first_ns = 0;        // oldest packet held (0: none)
  uint64_t last_ns = 0;         // newest packet held
  uint64_t chunks_deleted = 0;  // by retention, since start-up
  std::string message;          // the last problem (a chunk that could not be opened, ...)
};

// The chunks a snapshot reads, and the time range the ring holds.
struct SnapshotSource {
  std::vector<SnapshotChunk> chunks;
  uint64_t held_first_ns = 0;  // 0: the ring holds no packet
  uint64_t held_last_ns = 0;
};

class Ring {
 public:
  static Result<std::unique_ptr<Ring>> open(const std::filesystem::path& dir, RingSpec spec,
                                            const RingOptions& options, RingHost& host);
  ~Ring();

  const std::string& name() const { return spec_.name; }
  RingSpec spec() const;

  // Starts capturing with `spec` (the ring's own when empty). Persists running = true.
  Status start(std::optional<RingSpec> spec = std::nullopt);
  // Stops capturing; the chunks stay. `persist`: remember it as stopped (else it restarts at
  // boot: a daemon shutdown).
  void stop(bool persist);
  // Rotation hand-over (the full chunk is queued for close_chunks(), the next one opened) and
  // retention. Quick: it never waits for a chunk's writes. `free_bytes`: free space now.
  // Returns whether it queued a chunk for close_chunks().
  bool maintain(uint64_t free_bytes);
  // Closes and indexes the chunks maintain() queued (the RingManager's closer thread); returns
  // how many it closed.
  size_t close_chunks();
  // After stop(): deletes every file of the ring and its directory.
  Status remove_files();

  // When maintain() must run to delete a chunk by age (the oldest closed chunk's newest packet
  // plus max_age, wall clock ns); nullopt: no closed chunk, or no age limit.
  std::optional<uint64_t> expiry_ns() const;

  RingStatus status() const;
  // Opens the chunks that may hold packets of [from_ns, to_ns]; waits (at most about 2 s) until
  // the chunk being written holds on disk every packet it had taken when the call began.
  Result<SnapshotSource> snapshot_source(uint64_t from_ns, uint64_t to_ns) const;

 private:
  struct Held {  // a closed chunk on disk
    std::string file_name;
    uint64_t file_bytes = 0;  // chunk and index
    uint64_t packets = 0;
    uint64_t first_ns = 0, last_ns = 0;
    std::shared_ptr<const ChunkIndex> index;
  };
  struct Closing {  // taken from the producer, being closed and indexed
    uint64_t seq = 0;
    std::string file_name;
    uint64_t first_ns = 0, last_ns = 0;
    uint64_t bytes = 0;  // the chunk file's length when it was taken
  };

  Ring(std::filesystem::path path, storage::Directory dir, RingSpec spec, RingOptions options,
       RingHost& host);
  Status load();  // repair, index and list what is on disk
  Result<Held> index_chunk(uint64_t seq, const std::string& file_name);
  Result<Held> held_chunk(uint64_t seq, const std::string& file_name, ChunkIndex index, bool write);
  Result<Held> close_index(const Chunk& chunk, const sink::SinkResult& closed);
  // Whether the index of chunk `file_name`, `bytes` long, may go to disk (the free-space floor).
  bool room_for_index(const std::string& file_name, uint64_t bytes) const;
  Result<std::unique_ptr<Chunk>> open_chunk();
  // A chunk taken from the producer, for close_chunks(); listed as closing meanwhile. mutex_ held.
  void queue_close(std::unique_ptr<Chunk> chunk);
  void finish_chunk(std::unique_ptr<Chunk> chunk);
  Status save_state(bool running) const;
  void delete_chunk(uint64_t seq, const Held& held);
  uint64_t reserved_bytes() const;      // mutex_ held
  uint64_t current_chunk_room() const;  // mutex_ held
  void retain(uint64_t free_bytes);
  void provide_chunks();

  const std::filesystem::path path_;
  storage::Directory dir_;
  RingOptions options_;
  RingHost& host_;

  std::mutex control_mutex_;
  std::mutex close_mutex_;
  mutable std::mutex mutex_;
  RingSpec spec_;
  bool running_ = false;
  std::shared_ptr<Recording> recording_;
  RotatingSink* rotating_ = nullptr;  // owned by recording_
  uint64_t next_seq_ = 1;
  std::map<uint64_t, Held> closed_;
  std::map<uint64_t, Closing> closing_;           // by seq
  std::vector<std::unique_ptr<Chunk>> to_close_;  // queued by maintain()
  // A closed chunk's index tables, kept for the next chunk opened (its memory is faulted in).
  std::optional<ChunkIndexBuilder> spare_index_;
  IndexBytes index_bytes_;  // close_mutex_: the buffer each closed chunk's index is built in
  RecordingStats last_stats_;
  uint64_t chunks_deleted_ = 0;
  std::string message_;
};

}  // namespace recorder::ring
