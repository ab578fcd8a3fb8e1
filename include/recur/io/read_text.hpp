// Reading a whole file into a string, with recur::io_error naming the caller and the path.
// Not here: parsing (each format's own header).
#pragma once

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include <recur/core/error.hpp>

namespace recur::detail {

/// The bytes of `path`; io_error "<who>: cannot open '<path>'" or "...: read failed".
inline std::string read_text_file(const std::filesystem::path& path, std::string_view who) {
    std::ifstream f(path, std::ios::binary);
    if (!f) io_fail(who, ": cannot open '", path.string(), "'");
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (f.bad()) io_fail(who, ": '", path.string(), "': read failed");
    return text;
}

}  // namespace recur::detail
