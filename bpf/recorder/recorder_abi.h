/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * recorder_abi.h: every structure that crosses the kernel/user boundary, defined once.
 *
 * Included by the BPF programs (the .bpf.c files in bpf/recorder) and by user space (src/datapath,
 * src/dispatch). Plain C with explicit widths and explicit padding; sizes and offsets are
 * asserted below so a change on one side cannot silently break the other. Any change to a
 * struct here must bump RECORDER_ABI_VERSION: the BPF object exports the version it was built
 * with (rodata `recorder_abi_version`) and the loader refuses an object whose version differs.
 *
 * Rule model: user space compiles the include filters of every active recording into at most
 * RECORDER_MAX_RULES rules. Each rule has a slot (its bit in a rule mask) and belongs to one
 * recording slot. A packet's rule mask is the set of rules whose filter it matches; the kernel
 * emits a packet only when the mask is non-zero, and the mask travels with the packet so dispatch
 * can hand it to every recording that owns one of the matched rules.
 */
#ifndef RECORDER_ABI_H
#define RECORDER_ABI_H

#ifdef __bpf__
/* BPF side: types come from the UAPI headers the program includes (linux/types.h). */
#else
#include <linux/types.h>
#endif

#define RECORDER_ABI_VERSION 6

/* How many rules (filters) can be active at once across all recordings. */
#define RECORDER_MAX_RULES 256
/* A rule mask: one bit per rule slot. */
#define RECORDER_RULE_WORDS (RECORDER_MAX_RULES / 64)
/* How many recordings can be active at once (each owns at least one rule). */
#define RECORDER_MAX_RECORDINGS RECORDER_MAX_RULES

/* Packet direction as seen by the hook that captured it. */
enum recorder_direction {
	RECORDER_DIR_UNKNOWN = 0,
	RECORDER_DIR_INGRESS = 1,
	RECORDER_DIR_EGRESS = 2,
};

/* Link-layer type of the captured bytes; values are pcap LINKTYPE_* numbers. */
enum recorder_link_type {
	RECORDER_LINK_ETHERNET = 1, /* LINKTYPE_ETHERNET: frame starts at the MAC header */
	RECORDER_LINK_RAW = 101,    /* LINKTYPE_RAW: frame starts at the IPv4/IPv6 header */
};

struct recorder_rule_mask {
	__u64 words[RECORDER_RULE_WORDS]; /* bit (slot % 64) of words[slot / 64] */
};

/*
 * The header in front of every emitted packet. The packet's first cap_len bytes follow it
 * directly in the same perf/ring-buffer sample.
 */
struct recorder_capture_hdr {
	__u64 ktime_ns;			 /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) at capture */
	__u32 ifindex;			 /* skb->ifindex of the device the hook runs on */
	__u32 orig_len;			 /* skb->len: the packet's length on the wire */
	__u32 cap_len;			 /* bytes of packet data following this header */
	__u8 direction;			 /* enum recorder_direction */
	__u8 pad0;			 /* zero */
	__u16 link_type;		 /* enum recorder_link_type */
	struct recorder_rule_mask rules; /* rules this packet matched (never all zero) */
	/* The kernel keeps an outer VLAN tag out of the packet bytes (rx untagging, tx offload)
	 * before tc sees them. When vlan_present is set, user space puts the tag back after the
	 * MAC addresses, as tcpdump does, so the capture shows the frame as on the wire. */
	__u16 vlan_tci;	   /* host byte order */
	__be16 vlan_proto; /* network byte order, as on the wire (0x8100, 0x88a8) */
	__u8 vlan_present; /* 0 or 1 */
	__u8 pad1[3];	   /* zero */
	/* The generation of the rule set the packet was classified with (ABI 6): user space routes
	 * the rule bits through the routing table of that generation's rules, never through a
	 * later one whose slots may belong to other recordings. */
	__u32 generation;
	__u32 pad2; /* zero */
};

/*
 * One rule as user space writes it; the BPF side keeps its own lookup structures built from
 * these (see recorder.bpf.c). Addresses are in network byte order; an IPv4 address occupies
 * addr[0..3]. family 0 means "any address, any family".
 */
struct recorder_rule {
	__u8 src_addr[16];
	__u8 dst_addr[16];
	__u8 family;	     /* 0 (any), 4 or 6 */
	__u8 src_prefix_len; /* 0..32 or 0..128 */
	__u8 dst_prefix_len;
	__u8 protocol;	      /* IPPROTO_*, 0 = any */
	__u16 src_port;	      /* host byte order, 0 = any */
	__u16 dst_port;	      /* host byte order, 0 = any */
	__u32 snap_len;	      /* capture at most this many bytes for this rule */
	__u16 recording_slot; /* the recording this rule belongs to */
	__u16 pad0;
};

/*
 * Per-rule kernel counters (a per-CPU array indexed by set * RECORDER_MAX_RULES + rule slot, so
 * the counts of a rule set stop growing once user space has flipped away from it and can be
 * folded exactly). A packet that matches
 * several rules of the same recording is counted on the lowest matching slot of that
 * recording only, so summing a recording's rules gives exact per-recording figures.
 */
struct recorder_rule_counters {
	__u64 matched_packets;	 /* packets that matched (and were attempted to emit) */
	__u64 matched_bytes;	 /* their orig_len summed */
	__u64 emit_fail_packets; /* emission failed: perf/ring buffer full (kernel loss) */
	__u64 emit_fail_bytes;	 /* their orig_len summed */
};

/*
 * The kernel rule table (ABI 2). User space compiles the rules (src/datapath/rule_compiler.h)
 * into per-dimension masks; the BPF program ANDs the masks of a packet's protocol, ports and
 * addresses. Addresses are looked up in LPM tries, each behind a bitmap prefilter (ABI 5, below)
 * that settles most addresses no rule prefix contains without the trie. The table is
 * double-buffered: every map is keyed by a set (0 or 1) and the BPF global `recorder_active_set`
 * selects the set a packet is classified with. User space rewrites the inactive set, then flips
 * the selector, so a packet never sees half of an update.
 */
#define RECORDER_TABLE_SETS 2
/* The port maps are arrays indexed by RECORDER_PORT_KEY (ABI 4): every (set, port) has an entry,
 * all-zero for ports no rule names. An array lookup is a few inlined instructions where a hash
 * lookup costs ~30 ns, which is most of the price of a packet rejected at its ports. */
#define RECORDER_PORT_ENTRIES (RECORDER_TABLE_SETS * 65536)
/* Distinct prefixes per LPM trie and set. */
#define RECORDER_MAX_PREFIX_ENTRIES (RECORDER_TABLE_SETS * RECORDER_MAX_RULES)
/* The set occupies the first 32 bits of every LPM key, so prefixlen = 32 + address prefix. */
#define RECORDER_LPM_SET_BITS 32

/* Key of the IPv4 source/destination LPM tries. */
struct recorder_lpm4_key {
	__u32 prefixlen; /* RECORDER_LPM_SET_BITS + prefix length of addr */
	__u32 set;	 /* 0 or 1 */
	__u8 addr[4];	 /* network byte order */
};

/* Key of the IPv6 source/destination LPM tries. */
struct recorder_lpm6_key {
	__u32 prefixlen;
	__u32 set;
	__u8 addr[16];
};

/* Index into the port arrays: (set << 16) | port (host byte order). */
#define RECORDER_PORT_KEY(set, port) (((__u32)(set) << 16) | (__u32)(port))

/*
 * Address prefilter (ABI 5): an exact-negative test in front of every LPM lookup.
 *
 * Per set and address dimension a bitmap of RECORDER_ADDR_BLOOM_BITS bits. L is the shortest
 * non-zero prefix length among that dimension's rules of that family; user space sets, for every
 * non-zero prefix of the dimension, the bit of the prefix's first L bits. Every address such a
 * prefix contains has those same first L bits (the prefix is at least L long), so an address
 * whose bit is clear is in no non-zero prefix: the trie would answer with its /0 entry or
 * nothing, which is exactly the dimension's wild_* mask, and the program skips the lookup. A set
 * bit proves nothing (other prefixes hash there too): the trie decides.
 *
 * Both sides compute the bit the same way, without byte swapping: the address bytes as they are
 * in the packet (network order) are loaded as native 64-bit words hi (bytes 0..7) and lo (bytes
 * 8..15); an IPv4 address is its 4 bytes loaded as a native u32, zero-extended into hi, lo = 0.
 * The words are ANDed with the set's recorder_addr_mask of the dimension (the first L bits set,
 * in the same representation; all zero when the dimension has no non-zero prefix, whose bitmap is
 * then empty) and hashed by recorder_addr_bloom_bit().
 */
enum recorder_addr_dim {
	RECORDER_ADDR_SRC4 = 0,
	RECORDER_ADDR_DST4 = 1,
	RECORDER_ADDR_SRC6 = 2,
	RECORDER_ADDR_DST6 = 3,
};
#define RECORDER_ADDR_DIMS 4
#define RECORDER_ADDR_BLOOM_BITS 65536
#define RECORDER_ADDR_BLOOM_WORDS (RECORDER_ADDR_BLOOM_BITS / 64)
/* Key of the bitmap array: set * RECORDER_ADDR_DIMS + dimension. */
#define RECORDER_ADDR_BLOOM_KEY(set, dim) (RECORDER_ADDR_DIMS * (__u32)(set) + (__u32)(dim))

struct recorder_addr_bloom {
	__u64 words[RECORDER_ADDR_BLOOM_WORDS]; /* bit (b % 64) of words[b / 64] */
};

/* The first L bits of a dimension's addresses, as native words of the network-order bytes. */
struct recorder_addr_mask {
	__u64 hi;
	__u64 lo;
};

/* The bit (0 .. RECORDER_ADDR_BLOOM_BITS - 1) of the masked address words hi, lo. */
static inline __attribute__((always_inline)) __u32 recorder_addr_bloom_bit(__u64 hi, __u64 lo)
{
	__u64 x = hi * 0x9E3779B97F4A7C15ULL ^ lo;

	return (__u32)((x * 0xC2B2AE3D27D4EB4FULL) >> 48);
}

/* Masks that do not depend on a looked-up value, one per set. */
struct recorder_set_masks {
	struct recorder_rule_mask any_addr;  /* rules of family 0 (any address of any family) */
	struct recorder_rule_mask any_sport; /* rules with src_port 0 */
	struct recorder_rule_mask any_dport; /* rules with dst_port 0 */
	struct recorder_rule_mask portless;  /* rules with both ports 0: packets without ports */
	struct recorder_rule_mask non_ip;    /* family 0, protocol 0, ports 0: non-IP packets */
	/* Rules that match every address of a dimension for that family (family 0, or the family
	 * with prefix length 0). When every rule still in the running mask is in this mask, the
	 * program skips that dimension's LPM lookup: the answer could not remove any rule. It is
	 * also the exact answer for an address the prefilter rejects (see above). */
	struct recorder_rule_mask wild_src4;
	struct recorder_rule_mask wild_dst4;
	struct recorder_rule_mask wild_src6;
	struct recorder_rule_mask wild_dst6;
	/* Address prefilter masks (ABI 5), indexed by enum recorder_addr_dim. */
	struct recorder_addr_mask addr_mask[RECORDER_ADDR_DIMS];
	/* Which rule-table generation this set holds (ABI 6); copied into every capture header. */
	__u32 generation;
	__u32 pad0; /* zero */
};

/* Per-rule data the program needs after classification, indexed by set * MAX_RULES + slot. */
struct recorder_rule_info {
	__u32 snap_len;	      /* capture at most this many bytes for this rule */
	__u16 recording_slot; /* counters are kept once per recording: on its lowest matched rule */
	__u16 pad0;
};

/*
 * Packets the program could not classify (ABI 6), per interface and direction: a header the
 * classifier needs is truncated, malformed, or beyond the parse limits (more than
 * RECORDER_MAX_VLAN_TAGS VLAN tags, more than RECORDER_MAX_IPV6_EXT_HEADERS IPv6 extension
 * headers). Such a packet is still classified with what was found (a missing field matches only
 * rules that need no value there), and it is counted here whether or not a rule matched it, so
 * a recording can never miss packets silently. A per-CPU hash keyed by recorder_iface_key.
 */
#define RECORDER_MAX_VLAN_TAGS 8
#define RECORDER_MAX_IPV6_EXT_HEADERS 8
#define RECORDER_MAX_UNCLASSIFIED_KEYS 4096

struct recorder_iface_key {
	__u32 ifindex;
	__u32 direction; /* enum recorder_direction */
};

struct recorder_unclassified {
	__u64 packets;
	__u64 bytes; /* their skb->len summed */
};

/* Layout checks, compiled on both sides (the BPF object and user space), so a layout that
 * differs between clang's BPF target and the host compiler fails the build. */
#ifdef __cplusplus
#define RECORDER_STATIC_ASSERT static_assert
#else
#define RECORDER_STATIC_ASSERT _Static_assert
#endif
RECORDER_STATIC_ASSERT(sizeof(struct recorder_rule_mask) == 32, "rule mask size");
RECORDER_STATIC_ASSERT(sizeof(struct recorder_capture_hdr) == 72, "capture header size");
RECORDER_STATIC_ASSERT(__builtin_offsetof(struct recorder_capture_hdr, generation) == 64,
		       "generation offset");
RECORDER_STATIC_ASSERT(__builtin_offsetof(struct recorder_capture_hdr, vlan_tci) == 56,
		       "vlan_tci offset");
RECORDER_STATIC_ASSERT(__builtin_offsetof(struct recorder_capture_hdr, ifindex) == 8,
		       "ifindex offset");
RECORDER_STATIC_ASSERT(__builtin_offsetof(struct recorder_capture_hdr, cap_len) == 16,
		       "cap_len offset");
RECORDER_STATIC_ASSERT(__builtin_offsetof(struct recorder_capture_hdr, direction) == 20,
		       "direction offset");
RECORDER_STATIC_ASSERT(__builtin_offsetof(struct recorder_capture_hdr, link_type) == 22,
		       "link_type offset");
RECORDER_STATIC_ASSERT(__builtin_offsetof(struct recorder_capture_hdr, rules) == 24,
		       "rules offset");
RECORDER_STATIC_ASSERT(sizeof(struct recorder_rule) == 48, "rule size");
RECORDER_STATIC_ASSERT(__builtin_offsetof(struct recorder_rule, family) == 32,
		       "rule family offset");
RECORDER_STATIC_ASSERT(__builtin_offsetof(struct recorder_rule, snap_len) == 40,
		       "rule snap_len offset");
RECORDER_STATIC_ASSERT(sizeof(struct recorder_rule_counters) == 32, "counters size");
RECORDER_STATIC_ASSERT(sizeof(struct recorder_lpm4_key) == 12, "lpm4 key size");
RECORDER_STATIC_ASSERT(sizeof(struct recorder_lpm6_key) == 24, "lpm6 key size");
RECORDER_STATIC_ASSERT(sizeof(struct recorder_set_masks) == 360, "set masks size");
RECORDER_STATIC_ASSERT(__builtin_offsetof(struct recorder_set_masks, generation) == 352,
		       "generation offset");
RECORDER_STATIC_ASSERT(sizeof(struct recorder_iface_key) == 8, "iface key size");
RECORDER_STATIC_ASSERT(sizeof(struct recorder_unclassified) == 16, "unclassified size");
RECORDER_STATIC_ASSERT(__builtin_offsetof(struct recorder_set_masks, addr_mask) == 288,
		       "addr_mask offset");
RECORDER_STATIC_ASSERT(sizeof(struct recorder_addr_mask) == 16, "addr mask size");
RECORDER_STATIC_ASSERT(sizeof(struct recorder_addr_bloom) == 8192, "addr bloom size");
RECORDER_STATIC_ASSERT(sizeof(struct recorder_rule_info) == 8, "rule info size");

#endif /* RECORDER_ABI_H */
