// A process group that refuses what NCCL refuses, on every backend, so that such bugs fail on the
// CPU where the tests run rather than on the first multi-GPU job:
//   - a collective not issued through src/distributed/collectives.h (the layer that puts tensors
//     where the backend needs them and brings results back);
//   - a tensor that is not on the device that layer's rules name (collective_device,
//     host_side_device), or that is sparse or not contiguous;
//   - collectives issued in different orders, or with different signatures, on different ranks:
//     before each one the ranks exchange (sequence number, op, dtype, element count, shapes,
//     root, purpose) over a helper Gloo group, and every rank names the first difference;
//   - point-to-point messages whose two ends differ (dtype, shape), checked where both ends meet
//     in the store, and messages with no matching peer, counted at each barrier.
// PyTorch's ProcessGroupWrapper (TORCH_DISTRIBUTED_DEBUG=DETAIL) checks collective fingerprints
// too, but it compares the backend's own sequence number, which send/recv advance as well: a
// pipeline's stages send different numbers of messages on the group they also reduce over, so it
// would refuse correct runs. It checks no devices, no layer and no point-to-point traffic.
// On when PARALLAX_CHECK_COLLECTIVES=1 (tests and scripts/gpu-check.sh set it); it costs a small
// all-gather per collective, so runs measured for speed leave it off. With it,
// PARALLAX_COLLECTIVE_LOG=DIR records each collective (group rank/size, op, purpose, dtype,
// elements, device) in DIR/collectives.<pid>.tsv, as tests/dist/collectives_layer_test.cpp reads.
#pragma once
#include <torch/types.h>

#include "distributed/torch_compat.h"

namespace parallax {

bool collectives_checked();  // PARALLAX_CHECK_COLLECTIVES=1

// `inner` wrapped; `helper` is a Gloo group over the same ranks, `store` a prefix of its own.
compat::Group make_checked_group(compat::Group inner, compat::Group helper,
                                 c10::intrusive_ptr<c10d::Store> store,
                                 const torch::Device& rank_device);

}  // namespace parallax
