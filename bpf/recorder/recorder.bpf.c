// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * recorder.bpf.c: the tc programs that classify every packet against the recording rules and
 * emit the matching ones (header + first cap_len bytes) to user space.
 *
 * Four programs share one body: recorder_ingress / recorder_egress for devices with an
 * Ethernet header, recorder_ingress_l3 / recorder_egress_l3 for devices without one (tun,
 * wireguard), which the loader picks by the device's ARPHRD type. Every program returns
 * TC_ACT_UNSPEC: the recorder observes traffic, it never changes a verdict.
 *
 * Classification is a bit-vector AND over dimensions (see recorder_abi.h): protocol (array),
 * destination and source port (array + wildcard), destination and source address (LPM tries +
 * wildcard). The cheapest lookups come first and the walk stops as soon as the mask is zero, so
 * a non-matching packet costs one or two map lookups whatever the number of rules. In front of
 * each LPM lookup (~30 ns) sits the address prefilter: one bit of an inlined array lookup, clear
 * when no non-zero rule prefix of that dimension contains the address, in which case the
 * dimension's wild mask is the trie's exact answer and the trie is not consulted.
 *
 * Emission: perf buffer (bpf_perf_event_output appends the skb bytes without a staging copy) or
 * one BPF ring buffer per CPU (reserve a size class, bpf_skb_load_bytes into it), chosen by the
 * rodata knob recorder_use_ringbuf before load.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "recorder/recorder_abi.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The ABI this object was built with; the loader refuses a mismatch. A test builds an object
 * with another version (RECORDER_OBJECT_ABI_VERSION) to see the refusal. */
#ifndef RECORDER_OBJECT_ABI_VERSION
#define RECORDER_OBJECT_ABI_VERSION RECORDER_ABI_VERSION
#endif
const volatile __u32 recorder_abi_version = RECORDER_OBJECT_ABI_VERSION;
/* 0: perf buffer, 1: per-CPU ring buffers. Set by the loader before load. */
const volatile __u8 recorder_use_ringbuf = 0;
/* Ring buffers: a submit forces a wakeup once this many bytes were written since the last one
 * (set by the loader from the ring size); below it, only a sample landing in an emptied ring
 * wakes the reader (ringbuf_wakeup_flag). */
const volatile __u64 recorder_rb_wakeup_bytes = 65536;

/* Which rule set (0/1) packets are classified with; written by user space through the mmaped
 * .bss after it has filled the other set completely. */
__u32 recorder_active_set = 0;

/* The parse limits (RECORDER_MAX_VLAN_TAGS, RECORDER_MAX_IPV6_EXT_HEADERS in recorder_abi.h) are
 * the user-space decoder's too (src/dispatch/packet_info.cpp): kernel and user space give up on
 * the same packets. */
#define SLOT_MASK (RECORDER_MAX_RULES - 1)

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif
#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8
#define ETH_P_QINQ_OLD_ 0x9100
#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH 51
#define NEXTHDR_DEST 60
#define IPV4_FRAG_OFFSET_MASK 0x1fff

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RECORDER_TABLE_SETS * 256);
	__type(key, __u32);
	__type(value, struct recorder_rule_mask);
} recorder_proto SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RECORDER_PORT_ENTRIES);
	__type(key, __u32);
	__type(value, struct recorder_rule_mask);
} recorder_sport SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RECORDER_PORT_ENTRIES);
	__type(key, __u32);
	__type(value, struct recorder_rule_mask);
} recorder_dport SEC(".maps");

#define LPM_MAP(name, keytype)                                                                     \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);                                               \
		__uint(max_entries, RECORDER_MAX_PREFIX_ENTRIES);                                  \
		__uint(map_flags, BPF_F_NO_PREALLOC);                                              \
		__type(key, struct keytype);                                                       \
		__type(value, struct recorder_rule_mask);                                          \
	} name SEC(".maps")

LPM_MAP(recorder_src4, recorder_lpm4_key);
LPM_MAP(recorder_dst4, recorder_lpm4_key);
LPM_MAP(recorder_src6, recorder_lpm6_key);
LPM_MAP(recorder_dst6, recorder_lpm6_key);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RECORDER_TABLE_SETS);
	__type(key, __u32);
	__type(value, struct recorder_set_masks);
} recorder_set_masks SEC(".maps");

/* Address prefilter bitmaps (see recorder_abi.h), key RECORDER_ADDR_BLOOM_KEY(set, dim). An array:
 * the verifier inlines the lookup, where the LPM lookup it saves costs ~30 ns. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RECORDER_TABLE_SETS *RECORDER_ADDR_DIMS);
	__type(key, __u32);
	__type(value, struct recorder_addr_bloom);
} recorder_addr_bloom SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RECORDER_TABLE_SETS *RECORDER_MAX_RULES);
	__type(key, __u32);
	__type(value, struct recorder_rule_info);
} recorder_rule_info SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RECORDER_TABLE_SETS *RECORDER_MAX_RULES);
	__type(key, __u32);
	__type(value, struct recorder_rule_counters);
} recorder_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} recorder_events SEC(".maps");

/* Template of the per-CPU ring buffers; user space creates one per CPU and sets max_entries of
 * the outer map to the number of CPUs before load. */
struct recorder_ringbuf_inner {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct recorder_ringbuf_inner);
} recorder_ringbufs SEC(".maps");

/* What the parser found; mirrors PacketInfo in src/dispatch/packet_info.h. The addresses are
 * 8-byte aligned so the prefilter reads them as whole 64-bit words, and adjacent (src, then dst)
 * as in the IPv6 header, so one copy fills both. */
struct parsed {
	__u8 ip_version; /* 0: not IP */
	__u8 has_protocol;
	__u8 has_ports;
	__u8 protocol;
	__u16 sport;
	__u16 dport;
	__u8 src[16] __attribute__((aligned(8)));
	__u8 dst[16] __attribute__((aligned(8)));
	/* A header the classifier needs is truncated, malformed or beyond the parse limits:
	 * counted in recorder_unclassified (see recorder_abi.h). */
	__u8 incomplete;
};

static __always_inline void mask_and(struct recorder_rule_mask *m,
				     const struct recorder_rule_mask *o)
{
#pragma unroll
	for (int i = 0; i < RECORDER_RULE_WORDS; i++)
		m->words[i] &= o->words[i];
}

/* m &= (a | b), where b may be NULL (no entry for the looked-up value). */
static __always_inline void mask_and_or(struct recorder_rule_mask *m,
					const struct recorder_rule_mask *a,
					const struct recorder_rule_mask *b)
{
	if (b) {
#pragma unroll
		for (int i = 0; i < RECORDER_RULE_WORDS; i++)
			m->words[i] &= a->words[i] | b->words[i];
	} else {
		mask_and(m, a);
	}
}

/* Is any rule of m outside `wild` (so a lookup of that dimension could remove it)? */
static __always_inline int mask_outside(const struct recorder_rule_mask *m,
					const struct recorder_rule_mask *wild)
{
	return !!((m->words[0] & ~wild->words[0]) | (m->words[1] & ~wild->words[1]) |
		  (m->words[2] & ~wild->words[2]) | (m->words[3] & ~wild->words[3]));
}

static __always_inline int mask_empty(const struct recorder_rule_mask *m)
{
	return !(m->words[0] | m->words[1] | m->words[2] | m->words[3]);
}

/* Address prefilter: 0 when no non-zero prefix of dimension `dim` in set `set` contains the
 * address (hi, lo: its words as described in recorder_abi.h), so the LPM lookup can be skipped;
 * 1 when the trie has to decide. */
static __always_inline int addr_may_match(const struct recorder_set_masks *sm, __u32 set, __u32 dim,
					  __u64 hi, __u64 lo)
{
	const struct recorder_addr_mask *am = &sm->addr_mask[dim];
	const struct recorder_addr_bloom *b;
	__u32 key = RECORDER_ADDR_BLOOM_KEY(set, dim), bit;

	b = bpf_map_lookup_elem(&recorder_addr_bloom, &key);
	if (!b)
		return 1; /* cannot happen (array); the trie is always right */
	bit = recorder_addr_bloom_bit(hi & am->hi, lo & am->lo);
	/* Verifier: bit < 65536 (a 64-bit value shifted right by 48), so bit / 64 < 1024. */
	return (b->words[bit >> 6] >> (bit & 63)) & 1;
}

static __always_inline __u64 addr4_word(const __u8 *a)
{
	__u32 w;

	__builtin_memcpy(&w, a, 4);
	return w;
}

static __always_inline __u64 addr6_word(const __u8 *a)
{
	__u64 w;

	__builtin_memcpy(&w, a, 8);
	return w;
}

/* Where the parser reads from: the skb (all of it, paged fragments included) and its linear
 * area, which holds every header in the common case. */
struct pkt {
	struct __sk_buff *skb;
	void *data;
	void *data_end;
	__u32 len; /* skb->len: the whole packet, linear area and fragments */
};

/* Headers are read at most this far into the packet: the deepest is the TCP/UDP/SCTP header
 * behind 8 VLAN tags, an IPv6 header and 8 extension headers of at most 2 KiB each. */
#define MAX_PARSE_OFFSET 0x7fff

/* Copies the n (constant) bytes at packet offset `off` to `dst`. From the linear area when it
 * holds them: a few loads, what nearly every packet costs. Otherwise (headers in paged
 * fragments: packets built from trafgen's TX ring, header-split NICs, some GRO and tunnel
 * paths) bpf_skb_load_bytes reads them wherever they are, without changing the skb, which
 * other programs and the stack see as it was. Returns 0, or -1 when the packet is shorter than
 * off + n. */
static __always_inline int load(const struct pkt *k, __u32 off, void *dst, __u32 n)
{
	/* Verifier: off is bounded before it moves a packet pointer. */
	if (off > MAX_PARSE_OFFSET)
		return -1;
	if (k->data + off + n <= k->data_end) {
		__builtin_memcpy(dst, k->data + off, n);
		return 0;
	}
	return bpf_skb_load_bytes(k->skb, off, dst, n) < 0 ? -1 : 0;
}

static __always_inline int has_port_header(__u8 protocol)
{
	return protocol == IPPROTO_TCP || protocol == IPPROTO_UDP || protocol == IPPROTO_SCTP;
}

/* TCP, UDP and SCTP all start with source and destination port. */
static __always_inline void parse_ports(const struct pkt *k, __u32 off, struct parsed *p)
{
	__be16 ports[2];

	if (!has_port_header(p->protocol))
		return;
	if (load(k, off, ports, sizeof(ports))) {
		p->incomplete = 1; /* transport header cut */
		return;
	}
	p->sport = bpf_ntohs(ports[0]);
	p->dport = bpf_ntohs(ports[1]);
	p->has_ports = 1;
}

/* `ip`: the header's first 20 bytes, already read. */
static __always_inline void parse_ipv4(const struct pkt *k, __u32 off, const struct iphdr *ip,
				       struct parsed *p)
{
	__u32 ihl = ip->ihl * 4;

	if (ihl < sizeof(*ip) || off + ihl > k->len) {
		p->incomplete = 1; /* bad IHL, or options cut: not decodable, as in user space */
		return;
	}
	p->ip_version = 4;
	__builtin_memcpy(p->src, &ip->saddr, 4);
	__builtin_memcpy(p->dst, &ip->daddr, 4);
	p->protocol = ip->protocol;
	p->has_protocol = 1;
	if (ip->frag_off & bpf_htons(IPV4_FRAG_OFFSET_MASK))
		return; /* non-first fragment: no ports */
	parse_ports(k, off + ihl, p);
}

static __always_inline int is_ipv6_ext(__u8 nh)
{
	return nh == NEXTHDR_HOP || nh == NEXTHDR_ROUTING || nh == NEXTHDR_DEST ||
	       nh == NEXTHDR_FRAGMENT || nh == NEXTHDR_AUTH;
}

/* `nh`: the next-header field of the IPv6 header at `off`, already read. */
static __always_inline void parse_ipv6(const struct pkt *k, __u32 off, __u8 nh, struct parsed *p)
{
	__u8 h[4]; /* an extension header's next header, length, fragment offset */
	__u32 len;

	_Static_assert(__builtin_offsetof(struct parsed, dst) ==
			   __builtin_offsetof(struct parsed, src) + 16,
		       "src and dst are adjacent, as in the IPv6 header");
	if (load(k, off + 8, p->src, 32)) {
		p->incomplete = 1;
		return;
	}
	p->ip_version = 6;
	off += 40;
#pragma unroll
	for (int i = 0; i < RECORDER_MAX_IPV6_EXT_HEADERS; i++) {
		if (!is_ipv6_ext(nh))
			goto transport;
		/* Every extension header is at least 8 bytes long. */
		if (off + 8 > k->len || load(k, off, h, sizeof(h)))
			goto incomplete;
		if (nh == NEXTHDR_FRAGMENT) {
			/* offset (13 bits) in the upper bits of bytes 2..3 */
			if ((((__u16)h[2] << 8) | h[3]) & 0xfff8) {
				p->protocol = h[0];
				p->has_protocol = 1;
				return; /* non-first fragment: no ports */
			}
			len = 8;
		} else if (nh == NEXTHDR_AUTH) {
			len = ((__u32)h[1] + 2) * 4;
		} else {
			len = ((__u32)h[1] + 1) * 8;
		}
		nh = h[0];
		if (off + len > k->len)
			goto incomplete;
		/* Verifier: len <= 2048, so off stays below MAX_PARSE_OFFSET. */
		off += len & 0x7ff;
	}
	if (is_ipv6_ext(nh))
		goto incomplete; /* more extension headers than the limit: protocol unknown */
transport:
	p->protocol = nh;
	p->has_protocol = 1;
	parse_ports(k, off, p);
	return;
incomplete:
	/* A truncated extension header, or too many: the protocol stays unknown. */
	p->incomplete = 1;
}

/* Parses L3 at byte offset `off`; `want` is the IP version the EtherType announced (0: take it
 * from the header, for L3 devices). Leaves ip_version 0 when the header is missing, truncated
 * or of another version, and marks the packet incomplete then. */
static __always_inline void parse_ip(const struct pkt *k, __u32 off, __u8 want, struct parsed *p)
{
	/* The first 20 bytes serve both versions (an IPv6 header is 40): one read, which matters
	 * when it is a helper call (headers in fragments). */
	struct iphdr ip;
	__u8 version;

	if (load(k, off, &ip, sizeof(ip))) {
		p->incomplete = 1;
		return;
	}
	version = ((const __u8 *)&ip)[0] >> 4;
	if (want && version != want) {
		p->incomplete = 1;
		return;
	}
	if (version == 4)
		parse_ipv4(k, off, &ip, p);
	else if (version == 6)
		parse_ipv6(k, off, ((const __u8 *)&ip)[6], p); /* struct ipv6hdr's nexthdr */
	else
		p->incomplete = 1;
}

/* Returns the offset of the L3 header behind Ethernet and up to RECORDER_MAX_VLAN_TAGS VLAN
 * tags, or -1 when the frame is not IPv4/IPv6 (and marks it incomplete when that is because a
 * header is cut or there are more tags than the limit). */
static __always_inline int parse_eth(const struct pkt *k, __u8 *version, struct parsed *p)
{
	__be16 proto, tag[2]; /* a VLAN tag: TCI, then the next EtherType */
	int off = ETH_HLEN;

	if (load(k, ETH_HLEN - 2, &proto, sizeof(proto)))
		goto incomplete;
#pragma unroll
	for (int i = 0; i < RECORDER_MAX_VLAN_TAGS; i++) {
		if (proto != bpf_htons(ETH_P_8021Q_) && proto != bpf_htons(ETH_P_8021AD_) &&
		    proto != bpf_htons(ETH_P_QINQ_OLD_))
			break;
		if (load(k, off, tag, sizeof(tag)))
			goto incomplete;
		proto = tag[1];
		off += sizeof(tag);
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		*version = 4;
		return off;
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		*version = 6;
		return off;
	}
	if (proto == bpf_htons(ETH_P_8021Q_) || proto == bpf_htons(ETH_P_8021AD_) ||
	    proto == bpf_htons(ETH_P_QINQ_OLD_))
		goto incomplete; /* more tags than the limit */
	return -1;
incomplete:
	p->incomplete = 1;
	return -1;
}

/* Classifies `p` against rule set `set`, whose masks are `sm`; returns 0 when no rule matches. */
static __always_inline int classify(const struct parsed *p, __u32 set,
				    const struct recorder_set_masks *sm,
				    struct recorder_rule_mask *m)
{
	const struct recorder_rule_mask *v;
	__u32 key;

	if (!p->ip_version) {
		*m = sm->non_ip;
		return !mask_empty(m);
	}
	/* Protocol first: an array lookup, and the most selective cheap dimension. Unknown
	 * protocol uses entry 0, which holds exactly the protocol-any rules. */
	key = set * 256 + (p->has_protocol ? p->protocol : 0);
	v = bpf_map_lookup_elem(&recorder_proto, &key);
	if (!v)
		return 0;
	*m = *v;
	if (mask_empty(m))
		return 0;
	/* Each lookup is skipped when every remaining rule is a wildcard in its dimension: the
	 * result could not remove a rule, and a hash or LPM lookup is the expensive part. */
	if (p->has_ports) {
		if (mask_outside(m, &sm->any_dport)) {
			key = RECORDER_PORT_KEY(set, p->dport);
			mask_and_or(m, &sm->any_dport, bpf_map_lookup_elem(&recorder_dport, &key));
			if (mask_empty(m))
				return 0;
		}
		if (mask_outside(m, &sm->any_sport)) {
			key = RECORDER_PORT_KEY(set, p->sport);
			mask_and_or(m, &sm->any_sport, bpf_map_lookup_elem(&recorder_sport, &key));
		}
	} else {
		mask_and(m, &sm->portless);
	}
	if (mask_empty(m))
		return 0;
	/* Addresses: the prefilter first. When it rules out every non-zero prefix, the trie's
	 * longest match would be the family's /0 entry, whose value is exactly the family's
	 * rules with prefix length 0 in this dimension, or no entry at all; ORed with any_addr
	 * (family 0) that is the dimension's wild mask, so `m &= wild` is the lookup's answer. */
	if (p->ip_version == 4) {
		struct recorder_lpm4_key k = {.prefixlen = RECORDER_LPM_SET_BITS + 32, .set = set};

		if (mask_outside(m, &sm->wild_dst4)) {
			if (addr_may_match(sm, set, RECORDER_ADDR_DST4, addr4_word(p->dst), 0)) {
				__builtin_memcpy(k.addr, p->dst, 4);
				mask_and_or(m, &sm->any_addr,
					    bpf_map_lookup_elem(&recorder_dst4, &k));
			} else {
				mask_and(m, &sm->wild_dst4);
			}
			if (mask_empty(m))
				return 0;
		}
		if (mask_outside(m, &sm->wild_src4)) {
			if (addr_may_match(sm, set, RECORDER_ADDR_SRC4, addr4_word(p->src), 0)) {
				__builtin_memcpy(k.addr, p->src, 4);
				mask_and_or(m, &sm->any_addr,
					    bpf_map_lookup_elem(&recorder_src4, &k));
			} else {
				mask_and(m, &sm->wild_src4);
			}
		}
	} else {
		struct recorder_lpm6_key k = {.prefixlen = RECORDER_LPM_SET_BITS + 128, .set = set};

		if (mask_outside(m, &sm->wild_dst6)) {
			if (addr_may_match(sm, set, RECORDER_ADDR_DST6, addr6_word(p->dst),
					   addr6_word(p->dst + 8))) {
				__builtin_memcpy(k.addr, p->dst, 16);
				mask_and_or(m, &sm->any_addr,
					    bpf_map_lookup_elem(&recorder_dst6, &k));
			} else {
				mask_and(m, &sm->wild_dst6);
			}
			if (mask_empty(m))
				return 0;
		}
		if (mask_outside(m, &sm->wild_src6)) {
			if (addr_may_match(sm, set, RECORDER_ADDR_SRC6, addr6_word(p->src),
					   addr6_word(p->src + 8))) {
				__builtin_memcpy(k.addr, p->src, 16);
				mask_and_or(m, &sm->any_addr,
					    bpf_map_lookup_elem(&recorder_src6, &k));
			} else {
				mask_and(m, &sm->wild_src6);
			}
		}
	}
	return !mask_empty(m);
}

/* State of the walk over the matched rules (a bpf_loop callback context on the stack). */
struct walk_ctx {
	__u64 remaining[RECORDER_RULE_WORDS]; /* matched rules not visited yet */
	__u64 seen[RECORDER_RULE_WORDS];      /* recording slots already counted */
	__u64 counted[RECORDER_RULE_WORDS];   /* the lowest matched rule of each recording */
	__u32 set;
	__u32 snap;
	__u64 bytes;
	__u8 failed;
};

static __always_inline __u32 popcount64(__u64 x)
{
	return __builtin_popcountll(x);
}

/* Pops the lowest set bit of words[4] and returns its index, or -1. BPF has no ctz
 * instruction: the index of the lowest bit b is popcount(b - 1). */
static __always_inline int pop_lowest(__u64 *words)
{
	int w;

	if (words[0])
		w = 0;
	else if (words[1])
		w = 1;
	else if (words[2])
		w = 2;
	else if (words[3])
		w = 3;
	else
		return -1;
	/* Verifier: w is 0..3, so even when clang turns words[w] into a variable-offset stack
	 * access it stays inside the (fully initialized) array, which privileged programs may
	 * read and write. */
	__u64 x = words[w];
	__u64 low = x & -x;

	words[w] = x & (x - 1);
	return w * 64 + popcount64(low - 1);
}

static long walk_matched(__u32 index, void *vctx)
{
	struct walk_ctx *c = vctx;
	struct recorder_rule_info *info;
	struct recorder_rule_counters *cnt;
	int slot = pop_lowest(c->remaining);
	__u32 key, rec;
	__u64 bit;

	if (slot < 0)
		return 1;
	/* Verifier: bound the slot so the map key and bit index are provably in range. */
	slot &= SLOT_MASK;
	key = (c->set & 1) * RECORDER_MAX_RULES + slot;
	info = bpf_map_lookup_elem(&recorder_rule_info, &key);
	if (!info)
		return 0;
	if (info->snap_len > c->snap)
		c->snap = info->snap_len;
	rec = info->recording_slot & SLOT_MASK;
	bit = 1ULL << (rec & 63);
	if (c->seen[rec >> 6] & bit)
		return 0;
	c->seen[rec >> 6] |= bit;
	c->counted[slot >> 6] |= 1ULL << (slot & 63);
	key = (c->set & 1) * RECORDER_MAX_RULES + slot;
	cnt = bpf_map_lookup_elem(&recorder_counters, &key);
	if (cnt) {
		/* Per-CPU value and tc runs with migration disabled: plain adds suffice. */
		cnt->matched_packets++;
		cnt->matched_bytes += c->bytes;
	}
	return 0;
}

static long count_failure(__u32 index, void *vctx)
{
	struct walk_ctx *c = vctx;
	struct recorder_rule_counters *cnt;
	int slot = pop_lowest(c->counted);
	__u32 key;

	if (slot < 0)
		return 1;
	key = (c->set & 1) * RECORDER_MAX_RULES + (slot & SLOT_MASK);
	cnt = bpf_map_lookup_elem(&recorder_counters, &key);
	if (cnt) {
		cnt->emit_fail_packets++;
		cnt->emit_fail_bytes += c->bytes;
	}
	return 0;
}

/* Bytes submitted to this CPU's ring since its last forced wakeup. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} recorder_rb_unwoken SEC(".maps");

/* A forced wakeup once per recorder_rb_wakeup_bytes submitted on this CPU, as the perf buffer's
 * wakeup watermark does: a busy ring wakes the reader about once per that many bytes, not per
 * record. Counting what was written, not what is unread, matters: the reader leaves the newest
 * samples in the ring for its next round (it merges CPUs in time order), and a test on unread
 * bytes would then force a wakeup on every record at high rates.
 * Below that, no flag: the kernel's adaptive wakeup, which wakes the reader only when this record
 * is the first unread one of the ring (consumer position == record position). That happens only
 * when the reader has emptied the ring, and then it sleeps without a timeout: the first sample
 * after a quiet spell wakes it, and a ring still holding samples never does. */
static __always_inline __u64 ringbuf_wakeup_flag(__u32 bytes)
{
	__u32 zero = 0;
	__u64 *unwoken = bpf_map_lookup_elem(&recorder_rb_unwoken, &zero);

	if (!unwoken)
		return 0;
	/* Per-CPU value and tc runs with migration disabled: a plain add suffices. */
	*unwoken += bytes;
	if (*unwoken < recorder_rb_wakeup_bytes)
		return 0;
	*unwoken = 0;
	return BPF_RB_FORCE_WAKEUP;
}

/* Emits into this CPU's ring buffer using the smallest size class that holds cap_len.
 * Verifier: bpf_ringbuf_reserve needs a constant size, and bpf_skb_load_bytes a length the
 * verifier can bound by that size, hence one branch per class. */
#define RB_CLASS(sz)                                                                               \
	if (cap_len <= (sz)) {                                                                     \
		__u8 *s = bpf_ringbuf_reserve(rb, sizeof(*hdr) + (sz), 0);                         \
		if (!s)                                                                            \
			return -1;                                                                 \
		__builtin_memcpy(s, hdr, sizeof(*hdr));                                            \
		if (cap_len > 0 && bpf_skb_load_bytes(skb, 0, s + sizeof(*hdr), cap_len) < 0) {    \
			bpf_ringbuf_discard(s, 0);                                                 \
			return -1;                                                                 \
		}                                                                                  \
		bpf_ringbuf_submit(s, ringbuf_wakeup_flag(sizeof(*hdr) + (sz)));                   \
		return 0;                                                                          \
	}

static __always_inline int emit_ringbuf(struct __sk_buff *skb,
					const struct recorder_capture_hdr *hdr, __u32 cap_len)
{
	__u32 cpu = bpf_get_smp_processor_id();
	void *rb = bpf_map_lookup_elem(&recorder_ringbufs, &cpu);

	if (!rb)
		return -1;
	RB_CLASS(128)
	RB_CLASS(256)
	RB_CLASS(512)
	RB_CLASS(1024)
	RB_CLASS(2048)
	RB_CLASS(4096)
	RB_CLASS(16384)
	RB_CLASS(65536)
	return -1;
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, RECORDER_MAX_UNCLASSIFIED_KEYS);
	__type(key, struct recorder_iface_key);
	__type(value, struct recorder_unclassified);
} recorder_unclassified SEC(".maps");

/* Counts a packet the parser could not fully classify (rare: a hash lookup is affordable). */
static __always_inline void count_unclassified(struct __sk_buff *skb, __u8 direction, __u32 len)
{
	struct recorder_iface_key key = {.ifindex = skb->ifindex, .direction = direction};
	struct recorder_unclassified *u = bpf_map_lookup_elem(&recorder_unclassified, &key);

	if (u) {
		/* Per-CPU value and tc runs with migration disabled: plain adds suffice. */
		u->packets++;
		u->bytes += len;
	} else {
		struct recorder_unclassified first = {.packets = 1, .bytes = len};

		bpf_map_update_elem(&recorder_unclassified, &key, &first, BPF_NOEXIST);
	}
}

static __always_inline int handle(struct __sk_buff *skb, __u8 direction, int l3)
{
	struct parsed p = {};
	struct recorder_capture_hdr hdr;
	const struct recorder_set_masks *sm;
	struct walk_ctx c;
	struct pkt k;
	__u32 nbits, cap_len, len = skb->len;
	int off, err;
	__u32 set;
	__u8 version = 0;

	k.skb = skb;
	k.data = (void *)(long)skb->data;
	k.data_end = (void *)(long)skb->data_end;
	k.len = len;
	if (l3) {
		parse_ip(&k, 0, 0, &p);
	} else {
		off = parse_eth(&k, &version, &p);
		if (off >= 0)
			parse_ip(&k, off, version, &p);
	}
	if (p.incomplete)
		count_unclassified(skb, direction, len);

	/* Keeps `p` a struct in memory (its address escapes into an empty asm). Without this clang
	 * splits it into scalars for the prefilter's word reads and spills them all over the
	 * program (recorder_ingress: 3725 instructions, 403 stack stores; with it: 2940 and 124),
	 * which every packet pays for, even one rejected at its protocol. */
	asm volatile("" : : "r"(&p) : "memory");
	set = recorder_active_set & 1;
	sm = bpf_map_lookup_elem(&recorder_set_masks, &set);
	if (!sm || !classify(&p, set, sm, &hdr.rules))
		return TC_ACT_UNSPEC;

	/* Only matching packets pay for the walk state. */
	__builtin_memset(&c, 0, sizeof(c));
	c.set = set;

	__builtin_memcpy(c.remaining, hdr.rules.words, sizeof(c.remaining));
	c.bytes = len;
	nbits = popcount64(hdr.rules.words[0]) + popcount64(hdr.rules.words[1]) +
		popcount64(hdr.rules.words[2]) + popcount64(hdr.rules.words[3]);
	/* Verifier: bpf_loop checks the callback once instead of unrolling 256 iterations. */
	bpf_loop(nbits, walk_matched, &c, 0);

	cap_len = c.snap < len ? c.snap : len;
	hdr.ktime_ns = bpf_ktime_get_ns();
	hdr.ifindex = skb->ifindex;
	hdr.orig_len = len;
	hdr.cap_len = cap_len;
	hdr.direction = direction;
	hdr.pad0 = 0;
	hdr.vlan_present = skb->vlan_present ? 1 : 0;
	hdr.vlan_tci = skb->vlan_tci;
	hdr.vlan_proto = skb->vlan_proto;
	hdr.pad1[0] = hdr.pad1[1] = hdr.pad1[2] = 0;
	hdr.generation = sm->generation;
	hdr.pad2 = 0;
	hdr.link_type = l3 ? RECORDER_LINK_RAW : RECORDER_LINK_ETHERNET;

	if (recorder_use_ringbuf) {
		err = emit_ringbuf(skb, &hdr, cap_len);
	} else {
		/* The upper 32 bits of flags ask the helper to append cap_len skb bytes (the helper
		 * takes 20 bits of length: BPF_F_CTXLEN_MASK; cap_len <= skb->len fits). */
		err = bpf_perf_event_output(skb, &recorder_events,
					    BPF_F_CURRENT_CPU | ((__u64)(cap_len & 0xfffff) << 32),
					    &hdr, sizeof(hdr));
	}
	if (err)
		bpf_loop(RECORDER_MAX_RECORDINGS, count_failure, &c, 0);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int recorder_ingress(struct __sk_buff *skb)
{
	return handle(skb, RECORDER_DIR_INGRESS, 0);
}

SEC("tc")
int recorder_egress(struct __sk_buff *skb)
{
	return handle(skb, RECORDER_DIR_EGRESS, 0);
}

SEC("tc")
int recorder_ingress_l3(struct __sk_buff *skb)
{
	return handle(skb, RECORDER_DIR_INGRESS, 1);
}

SEC("tc")
int recorder_egress_l3(struct __sk_buff *skb)
{
	return handle(skb, RECORDER_DIR_EGRESS, 1);
}
