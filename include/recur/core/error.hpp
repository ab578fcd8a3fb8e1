// recur::error and helpers that format shapes, dtypes and expected-vs-actual values.
// Not here: logging, error codes, or anything that aborts; every user-facing failure throws.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace recur {

/// Base class of every exception recur throws on bad input (shapes, dtypes, indices, files, configs).
class error : public std::runtime_error {
public:
    explicit error(const std::string& what) : std::runtime_error(what) {}
};

/// Bad input read from a file (checkpoints, tokenizers, token files): names the file and the problem.
class io_error : public error {
public:
    explicit io_error(const std::string& what) : error(what) {}
};

/// Builds a message from any streamable parts: fail("recur::add: ", a, " vs ", b).
template <class... Parts>
[[noreturn]] void fail(Parts&&... parts) {
    std::ostringstream os;
    (os << ... << std::forward<Parts>(parts));
    throw error(os.str());
}

/// Like fail, but throws recur::io_error: io_fail("recur::load_x: '", path, "': tensor '", name, "' ...").
template <class... Parts>
[[noreturn]] void io_fail(Parts&&... parts) {
    std::ostringstream os;
    (os << ... << std::forward<Parts>(parts));
    throw io_error(os.str());
}

/// Throws recur::error with the given parts unless `ok`.
template <class... Parts>
void check(bool ok, Parts&&... parts) {
    if (!ok) fail(std::forward<Parts>(parts)...);
}

}  // namespace recur
