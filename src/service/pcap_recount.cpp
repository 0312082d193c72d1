#include "service/pcap_recount.h"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace recorder::service {

PcapCount recount_pcap(int fd) {
  PcapCount count;
  // libpcap reads through a FILE that it closes: give it a descriptor of its own.
  const int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) {
    count.error = std::string("dup: ") + std::strerror(errno);
    return count;
  }
  FILE* stream = ::fdopen(own, "rb");
  if (stream == nullptr) {
    count.error = std::string("fdopen: ") + std::strerror(errno);
    ::close(own);
    return count;
  }
  if (std::fseek(stream, 0, SEEK_SET) != 0) {
    count.error = std::string("seek: ") + std::strerror(errno);
    std::fclose(stream);
    return count;
  }
  char errbuf[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_fopen_offline_with_tstamp_precision(stream, PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (p == nullptr) {
    std::fclose(stream);
    count.error = std::string("file not readable as pcap: ") + errbuf;
    return count;
  }
  count.snap_length = static_cast<uint32_t>(pcap_snapshot(p));
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  while (pcap_next_ex(p, &hdr, &data) == 1) {
    ++count.packets;
    count.bytes += hdr->caplen;
  }
  pcap_close(p);
  return count;
}

}  // namespace recorder::service
