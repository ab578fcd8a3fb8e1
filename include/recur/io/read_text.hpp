// Reading a whole file into a string, or a whole JSON file, with recur::io_error naming the caller
// and the path. Not here: what the JSON means (each format's own header).
#pragma once

#include <filesystem>
#include <fstream>
#include <ios>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>

#include <nlohmann/json.hpp>

#include <recur/core/error.hpp>

namespace recur::detail {

/// The bytes of `path`; io_error "<who>: cannot open '<path>'", "...: is a directory" or "...: read
/// failed".
inline std::string read_text_file(const std::filesystem::path& path, std::string_view who) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) io_fail(who, ": '", path.string(), "' is a directory, not a file");
    std::ifstream f(path, std::ios::binary);
    if (!f) io_fail(who, ": cannot open '", path.string(), "'");
    std::string text;
    try {  // a read error inside the stream buffer throws whatever the stream's exception mask
        text.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    } catch (const std::ios_base::failure& e) {
        io_fail(who, ": '", path.string(), "': read failed (", e.what(), ")");
    }
    if (f.bad()) io_fail(who, ": '", path.string(), "': read failed");
    return text;
}

/// The JSON of `path`; io_error "<who>: '<path>' is not valid JSON: ..." besides read_text_file's.
inline nlohmann::json read_json_file(const std::filesystem::path& path, std::string_view who) {
    const std::string text = read_text_file(path, who);
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        io_fail(who, ": '", path.string(), "' is not valid JSON: ", e.what());
    }
}

}  // namespace recur::detail
