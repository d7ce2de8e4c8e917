// Config: every setting of a run, parsed and validated once; plain data, no LibTorch.
#pragma once
#include <cstdint>
#include <string>

namespace parallax {

struct Config {
  // Model.
  std::string model = "resnet50";
  std::string norm = "batch";  // batch | none (BatchNorm-free, for equivalence tests)
  std::string dtype = "fp32";  // fp32 | fp64: parameters, gradients, optimizer state and batches
  std::string precision = "fp32";  // fp32 | bf16 | fp16: autocast's dtype for forward (mixed)
  bool channels_last = false;      // 4-D parameters and batches in NHWC memory order
  double loss_scale = 65536;       // fp16: the dynamic loss scale's starting value
  // Transformer sizes over the named model's (0: the name's own): blocks, attention heads, width,
  // and (gpt) the context in tokens; dropout after embeddings, attention and residual branches.
  int64_t layers = 0, heads = 0, width = 0, context = 0;
  double dropout = 0;
  std::string recompute = "none";  // none | full (every block) | selective (attention's core)

  // Data.
  std::string dataset = "synthetic";  // synthetic | cifar10 | fashion-mnist | mnist, or text:
                                      // shakespeare | text | synthetic-text
  std::string data_dir;                      // empty: the dataset's default folder
  std::string synthetic_kind = "learnable";  // learnable | random
  int64_t synthetic_train = 2048;
  int64_t synthetic_test = 512;
  int64_t train_subset = 0;  // a file dataset's first N training images (0: all of them)
  int64_t test_subset = 0;   // ... and test images
  int64_t image_size = 32;
  int64_t channels = 3;
  int64_t classes = 10;
  bool augment = true;
  // Text (shakespeare | text | synthetic-text): windows of context + 1 tokens.
  int64_t vocab = 65;         // synthetic-text's vocabulary
  int64_t text_windows = 0;   // training windows per epoch (0: as many as cover the text once)
  int64_t eval_windows = 0;   // fixed validation windows (0: up to 256; synthetic: its test size)

  // Strategy and devices.
  std::string strategy = "single";
  std::string device = "cpu";
  std::string backend = "auto";  // auto (gloo on cpu, nccl on cuda) | gloo | nccl | mpi
  int threads = 0;  // intra-op threads per rank; 0: the cores divided among local ranks
  bool share_gpu = false;  // let several local ranks use one GPU (Gloo only; NCCL refuses it)
  bool oversubscribe = false;  // allow more than 4 local ranks per core

  // Ranks: spawned locally (--nproc) or joined from torchrun / Slurm / mpirun variables.
  int nproc = 1;
  int nnodes = 1;
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;        // 0: a free port (one node only)
  double comm_timeout = 120;  // seconds before a collective that cannot finish fails

  // Data parallelism.
  double bucket_mb = 25;         // gradient bucket size after the first (1 MiB) bucket
  double tail_bucket_mb = 1;     // last-launched bucket; the ones before it double up to bucket_mb
  int buckets_in_flight = 2;     // zero-2: the most whole gradient buckets alive at once
  bool overlap = true;           // all-reduce buckets while backward runs
  int accumulate = 1;            // micro-batches per optimizer step; only the last one syncs
  bool verify_replicas = false;  // after each step, check every rank holds rank 0's parameters
  bool sync_bn = false;          // BatchNorm statistics over the global batch (all ranks)
  int zero_stage = 1;            // zero: 1 shards optimizer state, 2 also gradients, 3 parameters
  bool reshard_after_forward = true;  // zero-3: free gathered parameters after each forward
  std::string grad_reduce_dtype = "fp32";  // fp32 | bf16: dtype of gradient buckets on the wire

  // Model and pipeline parallelism.
  std::string split_at;                   // "layer3.0" or "layer2.0,layer3.0": first block of stages 2..
  std::string balance = "time";           // blocks | params | time: cut when --split-at is empty
  std::string pipeline_schedule = "1f1b";  // gpipe | 1f1b | interleaved-1f1b | zb-h1 | zb-h2 | zb-v
  int virtual_stages = 0;  // model chunks per pipeline rank; 0: the schedule's own (2 for interleaved, zb-v)
  int64_t micro_batches = 0;              // per pipeline step; 0: from --split-size, else 4 x stages
  int64_t split_size = 0;                 // micro-batch size (the study's term); 0: unused
  int dp = 1;                             // hybrid: data-parallel replicas of the pipeline
  int pp = 1;                             // hybrid: pipeline stages (world = dp x pp)
  int tp = 0;                             // tensor: ranks a layer is split over; 0 = the world
  bool sequence_parallel = false;         // tensor: the tokens between split layers split too

  // Optimisation.
  int64_t batch_size = 32;  // global
  int64_t eval_batch_size = 256;
  int64_t epochs = 3;
  int64_t steps = 0;              // 0: no limit; else stop after this many optimizer steps in all
  double target_accuracy = 0;     // 0: none; else stop once test accuracy reaches it
  bool stop_at_target = true;     // false: record when the target was reached, train on
  double target_loss = 0;         // language models: stop once validation loss falls to it (0: none)
  std::string optimizer = "sgd";  // sgd | adam | adamw
  double lr = 0.05;
  double min_lr = 0;  // cosine's floor
  double momentum = 0.9;
  double weight_decay = 5e-4;  // sgd, adam: L2 penalty; adamw: decoupled, 2-D and larger only
  bool nesterov = false;
  double beta1 = 0.9;     // adam, adamw: the first moment's decay
  double beta2 = 0.999;   // adam, adamw: the second moment's decay (nanoGPT's Shakespeare: 0.99)
  double grad_clip = 0;   // 0: off; else the whole gradient's L2 norm is clipped to this
  std::string lr_schedule = "cosine";  // constant | step | cosine | onecycle
  double warmup = 0;                   // epochs of linear LR warm-up
  uint64_t seed = 0;

  // Measurement and output.
  int64_t timing_warmup = 5;  // first steps left out of step-time statistics
  std::string out;            // empty: runs/<time>-<strategy>-<model>
  std::string resume;         // run directory to continue from its last checkpoint
  bool checkpoint = true;
  int64_t checkpoint_every = 0;  // also a checkpoint every N steps (0: at each epoch's end only)
  // sharded (each rank writes its own shards; train/sharded_checkpoint.h), consolidated (one
  // checkpoint.pt in one device's layout), or auto: sharded where ranks hold shards of the state
  // (zero, pipelines, tensor, over more than one rank), consolidated where each holds it all.
  std::string checkpoint_format = "auto";
  std::string init_from;  // a PyTorch state dict to start from (torchvision's or GPT-2's names)
  std::string tensorboard;       // event files' folder ("" none); {run_dir} is the run's folder
  int64_t log_every = 1;         // steps between TensorBoard's per-step scalars
  bool trace = true;             // trace/rank<R>.json: each step's compute and collectives
};

// --tensorboard given without a folder: tb/ in the run directory.
constexpr const char* kTensorboardInRunDir = "{run_dir}/tb";

}  // namespace parallax
