// Access to a Datapath's internals for the privileged tests and the datapath benchmark only:
// the loaded programs' fds, so BPF_PROG_TEST_RUN can drive the very programs whose buffers the
// Datapath reads. Not for production code.
#pragma once

#include "datapath/datapath.h"

namespace recorder::datapath::testing_access {

// The fd of the tc program (ingress/egress, Ethernet/L3) of a Datapath made by Datapath::open,
// or -1.
int program_fd(Datapath& datapath, bool ingress, bool l3);

}  // namespace recorder::datapath::testing_access
