// Zero3 (ZeRO-3, fully sharded): Zero's flat buckets, but a rank keeps only its chunk of every
// parameter bucket. A bucket's storage exists only while a block that uses it runs: all-gathered
// just before the block's forward (the next block's launched meanwhile), freed after it (with
// --reshard-after-forward, else kept until its backward), gathered again when backward reaches the
// block, and freed once all the bucket's gradients are in; gradients are reduce-scattered as at
// stage 2, and the optimizer updates only the chunks.
#pragma once
#include "parallel/zero.h"

namespace parallax {

class Zero3 : public Zero {
 public:
  Zero3(const Config& cfg, const DistContext& ctx, std::shared_ptr<ModelBlocks> model);

  EvalStats evaluate(Loader& test) override;
  MemoryStats memory() const override;
  void save(torch::serialize::OutputArchive& archive) override;  // gathers the whole model
  void load(torch::serialize::InputArchive& archive) override;
  void checkpoint_written() override { release_all(); }
  bool chunks_hold_parameters() const override { return true; }
  std::vector<torch::Tensor> resident_state() const override;  // and the chunks
  int64_t transient_parameter_bytes() const override { return gathered_bytes_; }

 protected:
  double update() override;

 private:
  void allocate(size_t bucket);  // gives a freed bucket its storage back (uninitialised)
  void gather(size_t bucket);    // allocates the bucket and launches its all-gather (if freed)
  void release(size_t bucket);  // frees the bucket's storage; the parameters' views stay
  void release_all();
  void gather_all();            // and wait: the whole model, for checkpoints
  void before_block(size_t block);
  void after_block(size_t block, const torch::Tensor& output);
  void before_block_backward(size_t block);
  void keep_own_chunks();       // from the gathered buckets into shards_ (after a load)

  bool reshard_after_forward_;
  std::vector<int64_t> bucket_bytes_;     // the storage a gathered bucket takes
  std::vector<char> resident_;            // per bucket: storage allocated (gathered or coming)
  std::vector<size_t> last_forward_user_;  // per bucket: the last block whose forward uses it
  bool whole_model_ = false;  // evaluation: gathered once, the block hooks stand aside
  int64_t gathered_bytes_ = 0, peak_gathered_bytes_ = 0;  // whole buckets now, at most (measured)
};

}  // namespace parallax
