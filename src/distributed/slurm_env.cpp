// Slurm host lists and task counts, expanded as `scontrol show hostnames` would.
#include "distributed/slurm_env.h"

#include <cstdlib>

#include "config/user_error.h"

namespace parallax {
namespace {

[[noreturn]] void bad_list(const std::string& list, const std::string& why) {
  throw UserError("Slurm host list '" + list + "': " + why +
                  "; set MASTER_ADDR to rank 0's host instead");
}

int whole_number(const std::string& s, const std::string& list) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos)
    bad_list(list, "'" + s + "' is not a number");
  return std::atoi(s.c_str());
}

// Splits on commas that are not inside brackets.
std::vector<std::string> top_level_items(const std::string& list) {
  std::vector<std::string> items;
  std::string cur;
  int depth = 0;
  for (char c : list) {
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (depth < 0) bad_list(list, "a ']' without its '['");
    if (c == ',' && depth == 0) {
      items.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (depth != 0) bad_list(list, "a '[' without its ']'");
  items.push_back(cur);
  return items;
}

// Expands one name with zero or more bracket groups: "n[1-2]-[a,b]"... ranges of numbers only.
void expand_name(const std::string& name, const std::string& list, std::vector<std::string>& out) {
  const size_t open = name.find('[');
  if (open == std::string::npos) {
    if (name.empty()) bad_list(list, "an empty host name");
    out.push_back(name);
    return;
  }
  const size_t close = name.find(']', open);
  const std::string prefix = name.substr(0, open), rest = name.substr(close + 1);
  const std::string ranges = name.substr(open + 1, close - open - 1);
  size_t start = 0;
  while (start <= ranges.size()) {
    size_t comma = ranges.find(',', start);
    if (comma == std::string::npos) comma = ranges.size();
    const std::string range = ranges.substr(start, comma - start);
    const size_t dash = range.find('-');
    const std::string lo = range.substr(0, dash);
    const std::string hi = dash == std::string::npos ? lo : range.substr(dash + 1);
    const int a = whole_number(lo, list), b = whole_number(hi, list);
    if (b < a) bad_list(list, "the range " + range + " runs backwards");
    if (b - a > 100000) bad_list(list, "the range " + range + " is implausibly long");
    for (int n = a; n <= b; ++n) {
      std::string digits = std::to_string(n);
      if (digits.size() < lo.size()) digits.insert(0, lo.size() - digits.size(), '0');
      expand_name(prefix + digits + rest, list, out);
    }
    start = comma + 1;
  }
}

}  // namespace

std::vector<std::string> expand_slurm_nodelist(const std::string& list) {
  std::vector<std::string> hosts;
  for (const std::string& item : top_level_items(list)) expand_name(item, list, hosts);
  return hosts;
}

std::vector<int> expand_slurm_tasks_per_node(const std::string& counts) {
  std::vector<int> per_node;
  auto bad = [&] {
    throw UserError("SLURM_TASKS_PER_NODE=" + counts +
                    ": not Slurm's format (e.g. 2(x3),1); unset it or fix the job script");
  };
  size_t start = 0;
  while (start < counts.size()) {
    size_t comma = counts.find(',', start);
    if (comma == std::string::npos) comma = counts.size();
    const std::string item = counts.substr(start, comma - start);
    const size_t paren = item.find("(x");
    const std::string n = item.substr(0, paren);
    std::string times = "1";
    if (paren != std::string::npos) {
      if (item.back() != ')') bad();
      times = item.substr(paren + 2, item.size() - paren - 3);
    }
    if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos || times.empty() ||
        times.find_first_not_of("0123456789") != std::string::npos)
      bad();
    for (int k = 0; k < std::atoi(times.c_str()); ++k) per_node.push_back(std::atoi(n.c_str()));
    start = comma + 1;
  }
  if (per_node.empty()) bad();
  return per_node;
}

int slurm_default_port(const std::string& job_id) {
  const std::string tail = job_id.size() > 4 ? job_id.substr(job_id.size() - 4) : job_id;
  if (tail.empty() || tail.find_first_not_of("0123456789") != std::string::npos) return 29500;
  return 15000 + std::atoi(tail.c_str());
}

}  // namespace parallax
