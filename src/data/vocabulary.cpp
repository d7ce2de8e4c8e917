// vocabulary.json read back; prompts encoded and tokens decoded by characters, bytes or numbers.
#include "data/vocabulary.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "config/user_error.h"

namespace parallax {
namespace {

// The length of the UTF-8 sequence a lead byte starts (1 for a stray continuation byte).
size_t utf8_length(unsigned char c) {
  if (c >= 0xF0 && c < 0xF8) return 4;
  if (c >= 0xE0) return c < 0xF0 ? 3 : 1;
  if (c >= 0xC0) return 2;
  return 1;
}

// A character as a message shows it: quoted, or by its code where it would not show.
std::string shown(const std::string& c) {
  if (c.size() == 1 && (static_cast<unsigned char>(c[0]) < 0x20 || c[0] == 0x7F)) {
    char code[16];
    std::snprintf(code, sizeof code, "U+%04X", static_cast<unsigned>(c[0]));
    return code;
  }
  return "'" + c + "'";
}

}  // namespace

std::vector<std::string> utf8_characters(const std::string& text) {
  std::vector<std::string> chars;
  chars.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t len = std::min(utf8_length(static_cast<unsigned char>(text[i])), text.size() - i);
    chars.push_back(text.substr(i, len));
    i += len;
  }
  return chars;
}

Vocabulary load_vocabulary(const std::string& run_dir) {
  const std::string path = run_dir + "/vocabulary.json";
  std::ifstream in(path);
  if (!in)
    throw UserError(run_dir + ": no vocabulary.json, so not a language model's run; give the " +
                    "--out of a `parallax train --model gpt-...` run on text");
  Vocabulary v;
  try {
    const auto j = nlohmann::json::parse(in);
    v.token = j.at("token").get<std::string>();
    v.size = j.at("size").get<int64_t>();
    if (j.contains("characters")) v.characters = j["characters"].get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw UserError(path + ": not a parallax vocabulary (" + e.what() + ")");
  }
  const bool known =
      v.token == "byte" || v.token == "token" ||
      (v.token == "character" && static_cast<int64_t>(v.characters.size()) == v.size);
  if (!known || v.size < 1)
    throw UserError(path + ": not a parallax vocabulary (token \"" + v.token + "\", size " +
                    std::to_string(v.size) + ", " + std::to_string(v.characters.size()) +
                    " characters)");
  return v;
}

std::vector<int64_t> encode(const Vocabulary& v, const std::string& text) {
  std::vector<int64_t> tokens;
  if (v.token == "byte") {
    for (const char c : text) tokens.push_back(static_cast<unsigned char>(c));
  } else if (v.token == "character") {
    std::map<std::string, int64_t> index;
    for (size_t i = 0; i < v.characters.size(); ++i)
      index.emplace(v.characters[i], static_cast<int64_t>(i));
    for (const auto& c : utf8_characters(text)) {
      const auto it = index.find(c);
      if (it == index.end())
        throw UserError("--prompt: the character " + shown(c) + " is not in the run's " +
                        "vocabulary (the " + std::to_string(v.size) + " characters of its " +
                        "training text); leave it out or replace it");
      tokens.push_back(it->second);
    }
  } else {
    std::istringstream words(text);
    std::string word;
    while (words >> word) {
      size_t used = 0;
      int64_t t = -1;
      try {
        t = std::stoll(word, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != word.size() || t < 0 || t >= v.size)
        throw UserError("--prompt: '" + word + "' is not a token of this run; its tokens are " +
                        "the numbers 0 to " + std::to_string(v.size - 1) + ", separated by spaces");
      tokens.push_back(t);
    }
  }
  return tokens;
}

std::string decode(const Vocabulary& v, const std::vector<int64_t>& tokens) {
  std::string text;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int64_t t = tokens[i];
    if (v.token == "byte") {
      text += static_cast<char>(t);
    } else if (v.token == "character") {
      text += v.characters.at(static_cast<size_t>(t));
    } else {
      text += (i ? " " : "") + std::to_string(t);
    }
  }
  return text;
}

}  // namespace parallax
