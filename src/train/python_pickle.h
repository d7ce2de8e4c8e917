// Python pickles of state dicts made readable by LibTorch's unpickler.
// torch.save(model.state_dict()) pickles a collections.OrderedDict with a `_metadata` attribute;
// LibTorch's unpickler reads an OrderedDict as None (it meets one only as a tensor's empty backward
// hooks) and knows BUILD only for its own classes, so such a file fails to load in C++.
#pragma once
#include <string>

namespace parallax {

// The same pickle (protocol 2, as torch.save writes) with every OrderedDict built as a plain dict,
// every BUILD (an OrderedDict's attributes: `_metadata`) left out with its state, and SETITEM
// written as SETITEMS (LibTorch 1.13 lacks it). Other opcodes are copied as they are.
// std::invalid_argument on a truncated pickle or an unknown opcode.
std::string pickle_without_ordered_dicts(const std::string& pickle);

}  // namespace parallax
