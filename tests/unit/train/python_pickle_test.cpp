// Python's pickle of an OrderedDict with attributes (what torch.save(model.state_dict()) writes),
// rewritten so that LibTorch's own unpickler reads it as the dict it is.
#include <gtest/gtest.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <stdexcept>

#include "train/python_pickle.h"

namespace parallax {
namespace {

std::string from_hex(const std::string& hex) {
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return bytes;
}

// pickle.dumps(d, protocol=2) in Python 3.11, for
//   d = OrderedDict([('a', 1), ('b', {'only': 3})])
//   d._metadata = OrderedDict([('', {'version': 1}), ('x', {'version': 2})])
// (a memoized class fetched again with BINGET, SETITEM, SETITEMS, and BUILD for _metadata).
const char* kOrderedDictPickle =
    "800263636f6c6c656374696f6e730a4f726465726564446963740a7100295271012858010000006171024b015801"
    "0000006271037d710458040000006f6e6c7971054b0373757d710658090000005f6d65746164617461710768002952"
    "710828580000000071097d710a580700000076657273696f6e710b4b0173580100000078710c7d710d680b4b02737"
    "573622e";

TEST(PythonPickle, AnOrderedDictWithMetadataReadsAsItsItems) {
  const std::string original = from_hex(kOrderedDictPickle);
  // LibTorch alone cannot: it reads the OrderedDict as None.
  EXPECT_ANY_THROW(torch::jit::unpickle(original.data(), original.size()));
  const std::string readable = pickle_without_ordered_dicts(original);
  const auto value = torch::jit::unpickle(readable.data(), readable.size());
  ASSERT_TRUE(value.isGenericDict());
  const auto dict = value.toGenericDict();
  ASSERT_EQ(dict.size(), 2u);  // the items, without _metadata
  EXPECT_EQ(dict.at("a").toInt(), 1);
  const auto inner = dict.at("b").toGenericDict();
  EXPECT_EQ(inner.size(), 1u);
  EXPECT_EQ(inner.at("only").toInt(), 3);
}

TEST(PythonPickle, ABrokenPickleIsRefused) {
  const std::string original = from_hex(kOrderedDictPickle);
  EXPECT_THROW(pickle_without_ordered_dicts(original.substr(0, 40)), std::invalid_argument);
  EXPECT_THROW(pickle_without_ordered_dicts("\x80\x02\xff."), std::invalid_argument);
}

}  // namespace
}  // namespace parallax
