// The data command: download (resumable, verified) or describe a dataset.
#include "data/data_command.h"

#include <CLI/CLI.hpp>

#include <iostream>

#include "data/download.h"
#include "data/info.h"

namespace parallax {

CLI::App* add_data_command(CLI::App& app, DataOptions& opts) {
  auto* data = app.add_subcommand("data", "download or inspect datasets");
  data->require_subcommand(1);
  opts.download = data->add_subcommand("download", "download and verify a dataset (resumable)");
  opts.download->add_option("dataset", opts.dataset, "dataset to fetch")
      ->required()
      ->check(CLI::IsMember({"cifar10"}));
  opts.download->add_option("--dir", opts.dir, "folder to put it in")->capture_default_str();
  opts.info = data->add_subcommand("info", "describe a dataset folder or file");
  opts.info->add_option("path", opts.path, "folder or file")->required();
  return data;
}

void data_main(const DataOptions& opts) {
  if (*opts.download) download_cifar10(opts.dir);
  if (*opts.info) std::cout << describe_data_path(opts.path);
}

}  // namespace parallax
