// A tc program the verifier must refuse: it reads the packet without checking data_end.
// Compiled by tests/privileged/CMakeLists.txt for the loader's verifier-log test.
#include <linux/bpf.h>  // first: bpf_helpers.h uses its types

#include <bpf/bpf_helpers.h>

SEC("tc")
int rejected(struct __sk_buff* skb) {
  const unsigned char* data = (const unsigned char*)(long)skb->data;
  return data[0];
}

char LICENSE[] SEC("license") = "GPL";
