// Suite YAML -> checked runs: reads the text or file and hands it to SuiteParser.
#include "suite/suite.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "config/user_error.h"
#include "suite/suite_parser.h"

namespace parallax {

Suite load_suite(const std::string& yaml_text, const std::string& file_name,
                 const SuiteChecks& checks) {
  auto where = [&](const YAML::Exception& e) {
    return file_name + ":" + std::to_string(std::max(1, e.mark.line + 1)) + ": ";
  };
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw UserError(where(e) + "YAML syntax error: " + e.msg + "; fix the suite's syntax");
  }
  if (root.IsNull()) throw UserError(file_name + ":1: the suite is empty; add `suite: NAME`");
  try {
    return suite_detail::SuiteParser(file_name, checks).parse(root);
  } catch (const YAML::Exception& e) {  // a node of an unexpected kind slipped past the checks
    throw UserError(where(e) + e.msg);
  }
}

Suite load_suite_file(const std::string& path, const SuiteChecks& checks) {
  std::ifstream in(path);
  if (!in) throw UserError(path + ": cannot read the suite file; check the path, or use --preset");
  std::stringstream text;
  text << in.rdbuf();
  return load_suite(text.str(), path, checks);
}

}  // namespace parallax
