// The opcode walk: each opcode's argument is copied by its length and its stack effect tracked
// (pickletools' table), so that a rewrite knows where on the output each stack item began.
#include "train/python_pickle.h"

#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <vector>

namespace parallax {
namespace {

// How an opcode's argument is laid out after the opcode byte, and what it does to the stack.
enum class Arg { kNone, kFixed, kCounted, kLine, kTwoLines };
struct Op {
  Arg arg = Arg::kNone;
  size_t bytes = 0;  // kFixed: the argument's size; kCounted: the size of its length prefix
  int pops = 0, pushes = 0;
  bool to_mark = false;  // pops everything above the last MARK (and the MARK)
};

// Opcodes with a fixed-size argument: integers, memo indices, the protocol and frame sizes.
std::optional<Op> fixed_argument_op(unsigned char op) {
  switch (op) {
    case 'K':
    case 0x82:
      return Op{Arg::kFixed, 1, 0, 1};
    case 'h':
      return Op{Arg::kFixed, 1, 0, 1};
    case 'q':
    case 0x80:
      return Op{Arg::kFixed, 1, 0, 0};
    case 'M':
    case 0x83:
      return Op{Arg::kFixed, 2, 0, 1};
    case 'J':
    case 'j':
    case 0x84:
      return Op{Arg::kFixed, 4, 0, 1};
    case 'r':
      return Op{Arg::kFixed, 4, 0, 0};
    case 'G':
      return Op{Arg::kFixed, 8, 0, 1};
    case 0x95:
      return Op{Arg::kFixed, 8, 0, 0};
    default:
      return std::nullopt;
  }
}

// Opcodes whose argument has a length prefix or ends at a newline: strings, bytes, longs, and
// protocol 0's text forms.
std::optional<Op> variable_argument_op(unsigned char op) {
  switch (op) {
    case 'U':
    case 'C':
    case 0x8c:
    case 0x8a:
      return Op{Arg::kCounted, 1, 0, 1};
    case 'T':
    case 'X':
    case 'B':
    case 0x8b:
      return Op{Arg::kCounted, 4, 0, 1};
    case 0x8d:
    case 0x8e:
    case 0x96:
      return Op{Arg::kCounted, 8, 0, 1};
    case 'I':
    case 'L':
    case 'F':
    case 'S':
    case 'V':
    case 'P':
    case 'g':
      return Op{Arg::kLine, 0, 0, 1};
    case 'p':
      return Op{Arg::kLine, 0, 0, 0};
    case 'c':
      return Op{Arg::kTwoLines, 0, 0, 1};
    case 'i':
      return Op{Arg::kTwoLines, 0, 0, 1, true};
    default:
      return std::nullopt;
  }
}

// Opcodes with no argument: only their effect on the stack.
std::optional<Op> stack_only_op(unsigned char op) {
  switch (op) {
    case '.':
    case 0x94:
      return Op{};
    case '0':
    case 'a':
    case 'b':
      return Op{Arg::kNone, 0, 1, 0};
    case '2':
    case 'N':
    case '}':
    case ']':
    case ')':
    case 0x88:
    case 0x89:
    case 0x8f:
      return Op{Arg::kNone, 0, 0, 1};
    case 'R':
    case 0x81:
    case 0x86:
    case 0x93:
      return Op{Arg::kNone, 0, 2, 1};
    case 's':
      return Op{Arg::kNone, 0, 2, 0};
    case 0x85:
    case 'Q':
      return Op{Arg::kNone, 0, 1, 1};
    case 0x87:
    case 0x92:
      return Op{Arg::kNone, 0, 3, 1};
    case 'd':
    case 'l':
    case 'o':
    case 't':
    case 0x91:
      return Op{Arg::kNone, 0, 0, 1, true};
    case '1':
    case 'e':
    case 'u':
    case 0x90:
      return Op{Arg::kNone, 0, 0, 0, true};
    case '(':
      return Op{};  // MARK: handled by the walk
    default:
      return std::nullopt;
  }
}

Op op_of(unsigned char op) {
  if (const auto o = fixed_argument_op(op)) return *o;
  if (const auto o = variable_argument_op(op)) return *o;
  if (const auto o = stack_only_op(op)) return *o;
  throw std::invalid_argument("unknown pickle opcode " + std::to_string(op));
}

uint64_t little_endian(const std::string& p, size_t at, size_t bytes) {
  uint64_t v = 0;
  for (size_t k = 0; k < bytes; ++k)
    v |= static_cast<uint64_t>(static_cast<unsigned char>(p[at + k])) << (8 * k);
  return v;
}

// Where the opcode at i ends.
size_t end_of(const std::string& p, size_t i, const Op& o) {
  size_t end = i + 1;
  if (o.arg == Arg::kFixed) end += o.bytes;
  if (o.arg == Arg::kCounted) {
    if (end + o.bytes > p.size()) throw std::invalid_argument("truncated pickle");
    const uint64_t length = little_endian(p, end, o.bytes);
    // Compared, not added first: an 8-byte length near 2^64 would wrap `end` round.
    if (length > p.size() - end - o.bytes) throw std::invalid_argument("truncated pickle");
    end += o.bytes + length;
  }
  for (int lines = o.arg == Arg::kLine ? 1 : o.arg == Arg::kTwoLines ? 2 : 0; lines > 0; --lines) {
    const size_t nl = p.find('\n', end);
    if (nl == std::string::npos) throw std::invalid_argument("truncated pickle");
    end = nl + 1;
  }
  if (end > p.size()) throw std::invalid_argument("truncated pickle");
  return end;
}

}  // namespace

std::string pickle_without_ordered_dicts(const std::string& p) {
  const std::string kClass = "ccollections\nOrderedDict\n";
  std::string out;
  out.reserve(p.size());
  std::vector<size_t> starts;                    // per stack item: where it begins in `out`
  std::vector<std::pair<size_t, size_t>> marks;  // per MARK: stack depth, offset in `out`
  std::set<uint64_t> class_memo;                 // memo slots that hold the OrderedDict class
  bool class_on_top = false;                     // the top item is the (dropped) class
  size_t i = 0;
  while (i < p.size()) {
    const unsigned char op = static_cast<unsigned char>(p[i]);
    const Op o = op_of(op);
    size_t end = end_of(p, i, o);
    const std::string whole = p.substr(i, end - i);
    auto memo_index = [&] {
      if (op == 'g' || op == 'p') return static_cast<uint64_t>(std::stoull(whole.substr(1)));
      return little_endian(p, i + 1, op == 'q' || op == 'h' ? 1 : 4);
    };
    const bool memo_put = op == 'q' || op == 'r' || op == 'p';
    const bool memo_get = op == 'h' || op == 'j' || op == 'g';
    const size_t here = out.size();
    if (whole == kClass || (memo_get && class_memo.count(memo_index()))) {
      starts.push_back(here);  // the class, never emitted: LibTorch reads OrderedDict as None
      class_on_top = true;
    } else if (class_on_top && memo_put) {
      class_memo.insert(memo_index());  // the class's memo slot, dropped with it
    } else if (class_on_top) {
      // OrderedDict's reduce: the class, an empty argument tuple, REDUCE -> one empty dict.
      if (op != ')' || end >= p.size() || p[end] != 'R')
        throw std::invalid_argument("an OrderedDict built with arguments");
      out += '}';
      end += 1;
      class_on_top = false;  // the class's slot on the stack is now the dict's
    } else if (op == 'b') {
      // BUILD sets the object's attributes (an OrderedDict's _metadata) from the state on top:
      // the state's bytes are dropped instead (LibTorch 1.13 has no POP). Nothing after it can
      // refer to what the state memoized: it is the last part of its object's pickle.
      if (starts.size() < 2) throw std::invalid_argument("BUILD on a short stack");
      out.resize(starts.back());
      starts.pop_back();
    } else if (op == '(') {
      marks.emplace_back(starts.size(), here);
      out += whole;
    } else {
      if (op == 's') {
        // SETITEM (one key and value; LibTorch 1.13 lacks it) -> MARK key value SETITEMS.
        if (starts.size() < 3) throw std::invalid_argument("SETITEM on a short stack");
        out.insert(starts[starts.size() - 2], 1, '(');
        out += 'u';
      } else {
        out += whole;
      }
      size_t start = here;
      if (o.to_mark) {
        if (marks.empty()) throw std::invalid_argument("no MARK for an opcode that needs one");
        starts.resize(marks.back().first);
        start = marks.back().second;
        marks.pop_back();
      } else if (op == '0' && !marks.empty() && marks.back().first == starts.size()) {
        marks.pop_back();  // POP of a MARK
      } else {
        if (starts.size() < static_cast<size_t>(o.pops))
          throw std::invalid_argument("pickle pops an empty stack");
        if (o.pops > 0) start = starts[starts.size() - o.pops];
        starts.resize(starts.size() - o.pops);
      }
      for (int k = 0; k < o.pushes; ++k) starts.push_back(start);
    }
    i = end;
    if (op == '.') return out;  // STOP: the pickle's end
  }
  throw std::invalid_argument("truncated pickle (no STOP)");
}

}  // namespace parallax
