// What every fuzz harness shares: a per-process scratch folder, writing the input bytes into it, and
// the rule that recur::error is the expected way to refuse bad input. Not here: any format's harness.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>

#include <recur/core/error.hpp>

namespace recur::fuzz {

/// The input of one run: its bytes, with the first one optionally taken as a selector.
struct input {
    std::span<const std::uint8_t> bytes;

    /// The first byte modulo `choices` (0 for an empty input), and the bytes after it.
    std::size_t select(std::size_t choices) {
        if (bytes.empty()) return 0;
        const std::size_t c = bytes[0] % choices;
        bytes = bytes.subspan(1);
        return c;
    }
};

/// A folder of this process (removed at exit): <tmp>/recur-fuzz-<pid>.
inline const std::filesystem::path& scratch() {
    static const std::filesystem::path dir = [] {
        auto d = std::filesystem::temp_directory_path() / ("recur-fuzz-" + std::to_string(::getpid()));
        std::filesystem::remove_all(d);
        std::filesystem::create_directories(d);
        std::atexit([] { std::filesystem::remove_all(scratch()); });
        return d;
    }();
    return dir;
}

/// Writes `bytes` to `path` (replacing it) and returns the path as a string.
inline std::string write_file(const std::filesystem::path& path, std::span<const std::uint8_t> bytes) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    f.close();
    if (!f) throw std::runtime_error("fuzz: cannot write '" + path.string() + "'");
    return path.string();
}

inline std::string write_file(const std::filesystem::path& path, const std::string& text) {
    return write_file(path, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

/// The bytes of a file the harness wrote itself.
inline std::string read_file(const std::filesystem::path& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

/// Runs `body`; recur::error (the library refusing bad input) is an expected outcome. Any other
/// exception escapes, and libFuzzer reports it as a crash.
template <class Body>
int expect_recur_errors(Body&& body) {
    try {
        body();
    } catch (const recur::error&) {
    }
    return 0;
}

}  // namespace recur::fuzz
