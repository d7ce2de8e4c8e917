// Config validation: ranges and combinations that CLI11's type checks cannot see.
#include "config/validate.h"

#include <cmath>
#include <initializer_list>
#include <regex>
#include <sstream>
#include <utility>

#include "config/user_error.h"

namespace parallax {
namespace {

template <typename T>
void require(bool ok, const char* option, T value, const char* what) {
  if (ok) return;
  std::ostringstream msg;
  msg << option << " " << value << ": " << what;
  throw UserError(msg.str());
}

template <typename T>
void require(bool ok, const char* option, T value, const std::string& what) {
  require(ok, option, value, what.c_str());
}

// inf and nan pass every later comparison that they should fail (--lr inf > 0): refused first.
void check_finite_numbers(const Config& c) {
  for (const auto& [option, value] : std::initializer_list<std::pair<const char*, double>>{
           {"--lr", c.lr},
           {"--momentum", c.momentum},
           {"--weight-decay", c.weight_decay},
           {"--beta1", c.beta1},
           {"--beta2", c.beta2},
           {"--grad-clip", c.grad_clip},
           {"--warmup", c.warmup},
           {"--target-accuracy", c.target_accuracy},
           {"--target-loss", c.target_loss},
           {"--dropout", c.dropout},
           {"--min-lr", c.min_lr},
           {"--comm-timeout", c.comm_timeout},
           {"--bucket-mb", c.bucket_mb},
           {"--tail-bucket-mb", c.tail_bucket_mb}})
    require(std::isfinite(value), option, value, "must be a finite number");
}

// The fp16 loss scale: at least 1, and given only where a loss scale is used.
void check_loss_scale(const Config& c) {
  require(std::isfinite(c.loss_scale) && c.loss_scale >= 1, "--loss-scale", c.loss_scale,
          "must be a finite number of at least 1");
  require(c.precision == "fp16" || c.precision == "mixed" || c.loss_scale == 65536, "--loss-scale",
          c.loss_scale,
          "applies to --precision fp16 (or mixed on a GPU) only; bf16 and fp32 need no loss scale");
}

// Batch sizes, the run's length, and how often it checkpoints and logs.
void check_run_length(const Config& c) {
  require(c.batch_size >= 1, "--batch-size", c.batch_size, "must be at least 1");
  require(c.eval_batch_size >= 1, "--eval-batch-size", c.eval_batch_size, "must be at least 1");
  require(c.epochs >= 1, "--epochs", c.epochs, "must be at least 1");
  require(c.steps >= 0, "--steps", c.steps, "must be 0 (no limit) or more");
  require(c.checkpoint_every >= 0, "--checkpoint-every", c.checkpoint_every,
          "must be 0 (each epoch's end only) or more");
  require(c.checkpoint || c.checkpoint_every == 0, "--checkpoint-every", c.checkpoint_every,
          "needs checkpoints; leave out --no-checkpoint");
  require(c.log_every >= 1, "--log-every", c.log_every, "must be at least 1");
}

// The target accuracy, the optimizer's settings and the warm-up.
void check_optimiser_options(const Config& c) {
  require(c.target_accuracy >= 0 && c.target_accuracy <= 1, "--target-accuracy", c.target_accuracy,
          "must be a fraction in (0, 1], e.g. 0.9 for 90%");
  require(c.lr > 0, "--lr", c.lr, "must be positive");
  require(c.momentum >= 0 && c.momentum < 1, "--momentum", c.momentum, "must be in [0, 1)");
  require(c.weight_decay >= 0, "--weight-decay", c.weight_decay, "must be 0 or more");
  require(!c.nesterov || (c.optimizer == "sgd" && c.momentum > 0), "--nesterov", "",
          "needs --optimizer sgd with --momentum above 0");
  require(c.beta1 >= 0 && c.beta1 < 1, "--beta1", c.beta1, "must be in [0, 1)");
  require(c.beta2 >= 0 && c.beta2 < 1, "--beta2", c.beta2, "must be in [0, 1)");
  const bool adam = c.optimizer == "adam" || c.optimizer == "adamw";
  require(adam || c.beta1 == Config{}.beta1, "--beta1", c.beta1,
          "applies to --optimizer adam or adamw; sgd has --momentum");
  require(adam || c.beta2 == Config{}.beta2, "--beta2", c.beta2,
          "applies to --optimizer adam or adamw");
  require(c.grad_clip >= 0, "--grad-clip", c.grad_clip,
          "must be 0 (no clipping) or a positive gradient norm");
  require(c.warmup >= 0 && c.warmup <= c.epochs, "--warmup", c.warmup,
          "must be between 0 and --epochs");
}

// The ranks on each node, the nodes, and where and how long they wait for each other.
void check_launch_options(const Config& c) {
  require(c.nproc >= 1 && c.nproc <= 1024, "--nproc", c.nproc, "must be between 1 and 1024");
  require(c.nnodes >= 1, "--nnodes", c.nnodes, "must be at least 1");
  require(c.node_rank >= 0 && c.node_rank < c.nnodes, "--node-rank", c.node_rank,
          "must be in [0, --nnodes)");
  require(c.nnodes == 1 || c.master_port != 0, "--master-port", c.master_port,
          "must be given (the same on every node) when --nnodes is above 1");
  require(c.master_port >= 0 && c.master_port <= 65535, "--master-port", c.master_port,
          "must be a TCP port");
  require(c.comm_timeout > 0, "--comm-timeout", c.comm_timeout, "must be positive");
}

// Gradient accumulation, buckets and reduction, and ZeRO's stage.
void check_data_parallel_options(const Config& c) {
  require(c.accumulate >= 1, "--accumulate", c.accumulate, "must be at least 1");
  require(c.bucket_mb > 0, "--bucket-mb", c.bucket_mb, "must be positive");
  require(c.buckets_in_flight >= 1, "--buckets-in-flight", c.buckets_in_flight,
          "must be at least 1");
  require(c.tail_bucket_mb >= 0, "--tail-bucket-mb", c.tail_bucket_mb,
          "must be 0 (no tapered tail) or positive");
  require(c.strategy != "single" || c.nproc * c.nnodes == 1, "--strategy", c.strategy,
          "runs one rank; use --strategy ddp or zero for more than one");
  require(
      c.grad_reduce_dtype == "fp32" || c.strategy == "ddp" || c.strategy == "zero" ||
          c.strategy == "hybrid",
      "--grad-reduce-dtype", c.grad_reduce_dtype,
      ("applies to gradient all-reduce (--strategy ddp, zero or hybrid); drop it for " + c.strategy)
          .c_str());
  require(c.zero_stage >= 1 && c.zero_stage <= 3, "--zero-stage", c.zero_stage,
          "must be 1, 2 or 3");
  require(!(c.strategy == "zero" && c.zero_stage == 3 && c.verify_replicas), "--verify-replicas",
          "true", "compares whole replicas, which zero-3 never holds; leave it out for stage 3");
}

// Stage cuts, micro-batches, pipeline schedules and hybrid sizes.
void check_stage_options(const Config& c) {
  const bool staged = c.strategy == "model" || c.strategy == "pipeline" || c.strategy == "hybrid";
  require(c.micro_batches >= 0, "--micro-batches", c.micro_batches, "must be 1 or more");
  require(c.split_size >= 0, "--split-size", c.split_size, "must be 1 or more");
  require(c.micro_batches == 0 || c.split_size == 0, "--split-size", c.split_size,
          "and --micro-batches say the same thing; give one of them");
  require(c.strategy != "model" || (c.micro_batches <= 1 && c.split_size == 0), "--strategy",
          c.strategy, "runs one micro-batch; use --strategy pipeline for micro-batches");
  require(staged || c.split_at.empty(), "--split-at", c.split_at,
          "cuts the model into stages: needs --strategy model, pipeline or hybrid");
  require(c.virtual_stages >= 0, "--virtual-stages", c.virtual_stages, "must be 1 or more");
  require(c.virtual_stages <= 1 || c.pipeline_schedule == "interleaved-1f1b", "--virtual-stages",
          c.virtual_stages,
          "needs --pipeline-schedule interleaved-1f1b (zb-v has 2 chunks, the others 1)");
  require(c.virtual_stages != 1 || c.pipeline_schedule != "zb-v", "--virtual-stages",
          c.virtual_stages, "zb-v holds 2 chunks per rank; leave --virtual-stages out");
  require(c.strategy == "pipeline" || c.strategy == "hybrid" || c.virtual_stages == 0,
          "--virtual-stages", c.virtual_stages, "needs --strategy pipeline or hybrid");
  require(c.strategy != "model" || c.pipeline_schedule == "gpipe" || c.pipeline_schedule == "1f1b",
          "--pipeline-schedule", c.pipeline_schedule,
          "needs micro-batches: use --strategy pipeline (model runs one batch through the stages)");
  require(c.dp >= 1, "--dp", c.dp, "must be at least 1");
  require(c.pp >= 1, "--pp", c.pp, "must be at least 1");
  require(c.tp >= 0, "--tp", c.tp, "must be 1 or more (0: the world)");
  require(c.strategy == "tensor" || c.tp <= 1, "--tp", c.tp,
          "splits layers over ranks: needs --strategy tensor (with another strategy, --tp 1; "
          "a tensor-parallel run resumes on any strategy with --tp 1)");
  require(c.strategy == "tensor" || !c.sequence_parallel, "--sequence-parallel", "",
          "splits the tokens between tensor-parallel layers: needs --strategy tensor");
  require(c.strategy == "hybrid" || (c.dp == 1 && c.pp == 1), "--strategy", c.strategy,
          "takes its sizes from the world; --dp and --pp are for --strategy hybrid");
  require(!staged || c.accumulate == 1, "--accumulate", c.accumulate,
          "is for ddp and zero; a pipeline accumulates over its micro-batches already");
}

// SyncBatchNorm needs data-parallel ranks and BatchNorm layers.
void check_sync_bn_options(const Config& c) {
  require(!c.sync_bn || c.strategy == "ddp" || c.strategy == "zero", "--sync-bn", "",
          "needs --strategy ddp or zero (data-parallel ranks to share statistics with)");
  require(!c.sync_bn || c.norm == "batch", "--sync-bn", "", "needs --norm batch");
}

// The device, the backend that can move its tensors, GPU sharing and threads.
void check_device_options(const Config& c) {
  require(c.backend != "nccl" || c.device.rfind("cuda", 0) == 0, "--backend", c.backend,
          "moves CUDA tensors only; use --device cuda, or --backend gloo on cpu");
  require(c.backend != "mpi" || c.strategy != "hybrid", "--backend", c.backend,
          "makes no subgroups (MPI's group is the whole world); use --backend gloo or nccl for "
          "--strategy hybrid");
  require(!c.share_gpu || c.device.rfind("cuda", 0) == 0, "--share-gpu", "",
          "shares GPUs among ranks: needs --device cuda");
  require(!c.share_gpu || c.backend == "gloo", "--share-gpu", "",
          "needs --backend gloo (NCCL refuses two ranks on one GPU)");
  require(c.threads >= 0, "--threads", c.threads, "must be 0 (every core) or more");
  require(c.timing_warmup >= 0, "--timing-warmup", c.timing_warmup, "must be 0 or more");
  require(std::regex_match(c.device, std::regex("cpu|cuda(:[0-9]+)?")), "--device", c.device,
          "must be cpu, cuda or cuda:N");
}

// Subsets of a dataset read from files, and the size and shape of synthetic data.
void check_dataset_options(const Config& c) {
  require(c.train_subset >= 0, "--train-subset", c.train_subset, "must be 0 (all) or more");
  require(c.test_subset >= 0, "--test-subset", c.test_subset, "must be 0 (all) or more");
  require(c.dataset != "synthetic" || c.train_subset == 0, "--train-subset", c.train_subset,
          "applies to a dataset read from files; size synthetic data with --synthetic-train");
  require(c.dataset != "synthetic" || c.test_subset == 0, "--test-subset", c.test_subset,
          "applies to a dataset read from files; size synthetic data with --synthetic-test");
  const bool text = c.dataset == "shakespeare" || c.dataset == "text" ||
                    c.dataset == "synthetic-text";
  const bool language_model = c.model.rfind("gpt", 0) == 0;
  require(!language_model || text, "--dataset", c.dataset,
          "is images; " + c.model + " is a language model: give --dataset shakespeare, text or "
          "synthetic-text");
  require(language_model || !text, "--dataset", c.dataset,
          "is text; " + c.model + " classifies images: give --model gpt-mini, gpt-char or gpt2");
  require(c.dataset != "text" || !c.data_dir.empty(), "--dataset", c.dataset,
          "needs --data-dir with a UTF-8 text file or a folder of them");
  require(!text || c.train_subset == 0, "--train-subset", c.train_subset,
          "applies to images; size text epochs with --text-windows");
  require(!text || c.test_subset == 0, "--test-subset", c.test_subset,
          "applies to images; size text validation with --eval-windows");
  require(!text || c.target_accuracy == 0, "--target-accuracy", c.target_accuracy,
          "applies to classifiers; give a language model --target-loss");
  require(text || c.target_loss == 0, "--target-loss", c.target_loss,
          "applies to language models; give a classifier --target-accuracy");
  require(c.target_loss >= 0, "--target-loss", c.target_loss, "must be 0 (none) or more");
  require(c.min_lr >= 0 && c.min_lr <= c.lr, "--min-lr", c.min_lr,
          "must be between 0 and --lr");
  require(c.text_windows >= 0, "--text-windows", c.text_windows, "must be 0 (a pass) or more");
  require(c.eval_windows >= 0, "--eval-windows", c.eval_windows, "must be 0 (default) or more");
  for (const auto& [name, v] : {std::pair<const char*, int64_t>{"--layers", c.layers},
                                {"--heads", c.heads},
                                {"--width", c.width},
                                {"--context", c.context}})
    require(v >= 0, name, v, "must be 0 (the model's own) or more");
  require(c.dropout >= 0 && c.dropout < 1, "--dropout", c.dropout, "must be in [0, 1)");
  if (c.dataset == "synthetic-text") {
    require(c.vocab >= 2 && c.vocab <= 1000000, "--vocab", c.vocab,
            "must be between 2 and 1000000");
    require(c.synthetic_train >= 1, "--synthetic-train", c.synthetic_train, "must be at least 1");
    require(c.synthetic_test >= 1, "--synthetic-test", c.synthetic_test, "must be at least 1");
  }
  if (c.dataset == "synthetic") {
    require(c.synthetic_train >= 1, "--synthetic-train", c.synthetic_train, "must be at least 1");
    require(c.synthetic_test >= 1, "--synthetic-test", c.synthetic_test, "must be at least 1");
    require(c.image_size >= 8 && c.image_size <= 1024, "--image-size", c.image_size,
            "must be between 8 and 1024");
    require(c.channels >= 1 && c.channels <= 16, "--channels", c.channels,
            "must be between 1 and 16");
    require(c.classes >= 2 && c.classes <= 1000, "--classes", c.classes,
            "must be between 2 and 1000");
  }
}

// Selective recomputation recomputes attention: a ResNet has none.
void check_recompute_options(const Config& c) {
  require(c.recompute != "selective" || c.model.rfind("resnet", 0) != 0, "--recompute", c.recompute,
          ("recomputes a transformer's attention core, which " + c.model +
           " has none of; give --recompute full or none")
              .c_str());
}

}  // namespace

// The checks run in this order: the first that fails is the one line the user sees.
void validate(const Config& c) {
  check_finite_numbers(c);
  check_loss_scale(c);
  check_run_length(c);
  check_optimiser_options(c);
  check_launch_options(c);
  check_data_parallel_options(c);
  check_stage_options(c);
  check_sync_bn_options(c);
  check_device_options(c);
  check_dataset_options(c);
  check_recompute_options(c);
}

}  // namespace parallax
