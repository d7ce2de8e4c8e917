// Config <-> JSON: one field list, missing keys keep their defaults (older run directories load).
#include "config/config_json.h"

namespace parallax {

#define PARALLAX_CONFIG_FIELDS                                                                 \
  model, norm, dtype, precision, channels_last, loss_scale, dataset, data_dir, synthetic_kind, synthetic_train, synthetic_test, image_size, \
      channels, classes, augment, strategy, device, backend, threads, share_gpu, oversubscribe, nproc, nnodes, node_rank,         \
      master_addr, master_port, comm_timeout, bucket_mb, tail_bucket_mb, buckets_in_flight, overlap, accumulate, verify_replicas, \
      sync_bn, zero_stage, reshard_after_forward, grad_reduce_dtype, split_at, balance, pipeline_schedule, virtual_stages, micro_batches, split_size, dp, pp, \
      batch_size, eval_batch_size, epochs, steps, target_accuracy, optimizer, lr, momentum,    \
      weight_decay, nesterov, lr_schedule, warmup, seed, timing_warmup, out, resume, checkpoint
// nlohmann's PASTE macros take at most 64 fields: the newer ones are a list of their own.
#define PARALLAX_CONFIG_FIELDS_2 checkpoint_every, init_from, tensorboard, log_every, trace, \
      train_subset, test_subset, stop_at_target, beta1, beta2, grad_clip, recompute
// Transformers and text.
#define PARALLAX_CONFIG_FIELDS_3 layers, heads, width, context, dropout, vocab, text_windows, \
      eval_windows, target_loss, min_lr
// Tensor and sequence parallelism; the checkpoints' format.
#define PARALLAX_CONFIG_FIELDS_4 tp, sequence_parallel, checkpoint_format

void to_json(nlohmann::json& nlohmann_json_j, const Config& nlohmann_json_t) {
  NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_TO, PARALLAX_CONFIG_FIELDS))
  NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_TO, PARALLAX_CONFIG_FIELDS_2))
  NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_TO, PARALLAX_CONFIG_FIELDS_3))
  NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_TO, PARALLAX_CONFIG_FIELDS_4))
}

void from_json(const nlohmann::json& nlohmann_json_j, Config& nlohmann_json_t) {
  const Config nlohmann_json_default_obj;
  NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_FROM_WITH_DEFAULT, PARALLAX_CONFIG_FIELDS))
  NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_FROM_WITH_DEFAULT, PARALLAX_CONFIG_FIELDS_2))
  NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_FROM_WITH_DEFAULT, PARALLAX_CONFIG_FIELDS_3))
  NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_FROM_WITH_DEFAULT, PARALLAX_CONFIG_FIELDS_4))
}

}  // namespace parallax
