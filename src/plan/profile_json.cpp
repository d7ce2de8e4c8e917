// Profile <-> JSON, field by field; a bad file is one UserError line.
#include "plan/profile_json.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "config/user_error.h"

namespace parallax {

namespace {

nlohmann::json block_seconds_json(const std::map<int64_t, std::vector<BlockTimes>>& by_rows) {
  nlohmann::json blocks = nlohmann::json::object();
  for (const auto& [rows, times] : by_rows) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& b : times)
      list.push_back({{"forward", b.forward}, {"backward", b.backward}, {"input", b.input},
                      {"weight", b.weight}});
    blocks[std::to_string(rows)] = list;
  }
  return blocks;
}

// `key`'s rows -> per-block times; each list one entry per block.
std::map<int64_t, std::vector<BlockTimes>> block_seconds_from(const nlohmann::json& j,
                                                             const std::string& key,
                                                             size_t blocks,
                                                             const std::string& file) {
  std::map<int64_t, std::vector<BlockTimes>> out;
  for (const auto& [rows, list] : j.items()) {
    std::vector<BlockTimes> times;
    for (const auto& b : list)
      times.push_back({b.at("forward").get<double>(), b.at("backward").get<double>(),
                       b.value("input", b.at("backward").get<double>() / 2),
                       b.value("weight", b.at("backward").get<double>() / 2)});
    if (times.size() != blocks)
      throw UserError(file + ": " + key + "." + rows + " has " + std::to_string(times.size()) +
                      " blocks, block_names " + std::to_string(blocks) +
                      "; give one entry per block");
    int64_t n = 0;
    try {
      n = std::stoll(rows);
    } catch (const std::exception&) {
      n = 0;
    }
    if (n < 1)
      throw UserError(file + ": " + key + " key '" + rows + "' is not a count of " +
                      "images; give whole numbers (\"64\": [...])");
    out[n] = times;
  }
  return out;
}

}  // namespace

nlohmann::json profile_to_json(const Profile& p) {
  const nlohmann::json blocks = block_seconds_json(p.blocks_by_rows);
  nlohmann::json recomputed = nlohmann::json::object();
  for (const auto& [mode, by_rows] : p.recomputed_blocks_by_rows)
    recomputed[mode] = block_seconds_json(by_rows);
  nlohmann::json coll = nlohmann::json::object();
  for (const auto& [kind, f] : p.collectives)
    coll[kind] = {{"latency_s", f.latency_s}, {"bytes_per_s", f.bytes_per_s}, {"samples", f.samples}};
  return {{"model", p.model},
          {"device", p.device},
          {"precision", p.precision},
          {"source", p.source},
          {"threads", p.threads},
          {"block_names", p.block_names},
          {"block_params", p.block_params},
          {"param_numels", p.param_numels},
          {"param_block", p.param_block},
          {"output_bytes_per_row", p.output_bytes_per_row},
          {"element_bytes", p.element_bytes},
          {"block_seconds_by_rows", blocks},
          {"recomputed_block_seconds_by_rows", recomputed},
          {"loss_s_per_row", p.loss_s_per_row},
          {"optimizer_s_per_param", p.optimizer_s_per_param},
          {"scale_s_per_param", p.scale_s_per_param},
          {"step_overhead_s", p.step_overhead_s},
          {"slowdown", p.slowdown},
          {"comm_compute_share", p.comm_compute_share},
          {"loaded_latency_s", p.loaded_latency_s},
          {"collectives_world", p.collectives_world},
          {"collectives", coll}};
}

Profile profile_from_json(const nlohmann::json& j, const std::string& file) {
  Profile p;
  std::string field;
  try {
    auto get = [&](const char* key, auto& into) {
      field = key;
      if (j.contains(key)) j.at(key).get_to(into);
    };
    get("model", p.model);
    get("device", p.device);
    get("precision", p.precision);
    get("source", p.source);
    get("threads", p.threads);
    get("block_names", p.block_names);
    get("block_params", p.block_params);
    get("param_numels", p.param_numels);
    get("param_block", p.param_block);
    get("output_bytes_per_row", p.output_bytes_per_row);
    get("element_bytes", p.element_bytes);
    get("loss_s_per_row", p.loss_s_per_row);
    get("optimizer_s_per_param", p.optimizer_s_per_param);
    get("scale_s_per_param", p.scale_s_per_param);
    get("step_overhead_s", p.step_overhead_s);
    get("slowdown", p.slowdown);
    get("comm_compute_share", p.comm_compute_share);
    get("loaded_latency_s", p.loaded_latency_s);
    get("collectives_world", p.collectives_world);
    field = "block_seconds_by_rows";
    p.blocks_by_rows = block_seconds_from(j.at(field), field, p.block_names.size(), file);
    field = "recomputed_block_seconds_by_rows";
    if (j.contains(field))
      for (const auto& [mode, by_rows] : j.at(field).items())
        p.recomputed_blocks_by_rows[mode] =
            block_seconds_from(by_rows, field + "." + mode, p.block_names.size(), file);
    field = "collectives";
    if (j.contains("collectives"))
      for (const auto& [kind, f] : j.at("collectives").items())
        p.collectives[kind] = {f.at("latency_s").get<double>(), f.at("bytes_per_s").get<double>(),
                               f.value("samples", 0)};
  } catch (const nlohmann::json::exception& e) {
    throw UserError(file + ": field " + field + ": " + e.what() + "; see docs/plan.md for the format");
  }
  const size_t nb = p.block_names.size();
  if (nb == 0 || p.blocks_by_rows.empty() || p.block_params.size() != nb ||
      p.output_bytes_per_row.size() != nb || p.param_block.size() != p.param_numels.size() ||
      std::any_of(p.param_block.begin(), p.param_block.end(), [&](size_t b) { return b >= nb; }))
    throw UserError(file + ": needs block_names, block_params and output_bytes_per_row (one per "
                    "block), param_numels and param_block (one per parameter, blocks in range) and "
                    "block_seconds_by_rows; see docs/plan.md for the format");
  return p;
}

Profile read_profile_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UserError("--device-profile " + path + ": cannot read it; give a profile.json " +
                           "that `parallax plan --out DIR` wrote");
  std::stringstream text;
  text << in.rdbuf();
  try {
    return profile_from_json(nlohmann::json::parse(text.str()), path);
  } catch (const nlohmann::json::parse_error& e) {
    throw UserError(path + ": not JSON (" + std::string(e.what()) + ")");
  }
}

}  // namespace parallax
