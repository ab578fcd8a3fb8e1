// JSON text that is always valid: strings holding bytes that are not UTF-8 (generated text, file
// names) are written with U+FFFD in their place instead of throwing. Not here: parsing (nlohmann::json).
#pragma once

#include <string>

namespace recur {

/// `j` as JSON text (indent < 0: one line); every invalid UTF-8 sequence inside a string becomes U+FFFD.
template <class Json>
std::string json_text(const Json& j, int indent = -1) {
    return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

}  // namespace recur
