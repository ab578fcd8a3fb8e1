// The interface every training-data source implements: rows of (ids, targets), and a JSON cursor
// that resumes the exact row sequence; plus strict readers for cursor keys. Not here: any source.
#pragma once

#include <cstdint>
#include <limits>
#include <set>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include <recur/core/error.hpp>
#include <recur/data/token_batch.hpp>

namespace recur {

/// A stream of training rows of a fixed length.
///
/// Contract: the rows are a deterministic function of the source's data and its cursor, so that
/// `b.restore(a.cursor())` on a source `b` built from the same data makes `b` produce exactly the
/// rows `a` produces next, whatever `b`'s constructor seed was.
class data_source {
public:
    virtual ~data_source() = default;

    /// Tokens per row.
    virtual std::int64_t seq() const = 0;

    /// Writes the next row: seq input ids, and seq targets (the next token, or token_batch::ignore).
    /// requires: ids.size() == targets.size() == seq().
    virtual void next_row(std::span<std::int32_t> ids, std::span<std::int32_t> targets) = 0;

    /// Where the stream stands, as JSON ({"source": kind, ...}).
    virtual nlohmann::json cursor() const = 0;

    /// Continues from a cursor written by cursor() on a source of the same kind and data. A cursor
    /// of another kind, an unknown, missing or ill-typed key, or a value out of range throws
    /// recur::error naming the key; the source is unchanged then.
    virtual void restore(const nlohmann::json& cursor) = 0;

    /// The next `batch` rows as a (batch, seq) token_batch. requires: batch >= 1.
    token_batch next(std::int64_t batch) {
        check(batch >= 1, "recur::data_source::next: batch must be >= 1, got ", batch);
        return make_batch(batch, seq(), [&](std::size_t, auto ids, auto targets) { next_row(ids, targets); });
    }

protected:
    /// Throws recur::error, prefixed by `who`, unless ids and targets hold seq() values each.
    void check_row(std::span<const std::int32_t> ids, std::span<const std::int32_t> targets, const char* who) const {
        check(ids.size() == static_cast<std::size_t>(seq()) && targets.size() == ids.size(), who, ": rows of ", seq(),
              " tokens, got ", ids.size(), " ids and ", targets.size(), " targets");
    }
};

namespace detail {

/// Checks that `j` is an object with exactly the keys `keys`; `who` prefixes the error.
inline void check_cursor_keys(const nlohmann::json& j, const std::set<std::string>& keys, const std::string& who) {
    check(j.is_object(), who, ": a cursor must be a JSON object, got ", j.type_name());
    for (const auto& [k, v] : j.items()) check(keys.count(k) == 1, who, ": unknown cursor key '", k, "'");
    for (const auto& k : keys) check(j.contains(k), who, ": the cursor lacks the key '", k, "'");
}

/// j[key] as an integer in [lo, hi]; a non-integer or a value out of range throws naming the key.
inline std::int64_t cursor_integer(const nlohmann::json& j, const char* key, std::int64_t lo, std::int64_t hi,
                                   const std::string& who) {
    const nlohmann::json& v = j.at(key);
    constexpr auto int64_max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    bool ok = v.is_number_integer();
    if (ok && v.is_number_unsigned()) ok = v.get<std::uint64_t>() <= int64_max;
    if (ok) ok = v.get<std::int64_t>() >= lo && v.get<std::int64_t>() <= hi;
    check(ok, who, ": cursor key '", key, "' must be an integer in [", lo, ", ", hi, "], got ", v.dump());
    return v.get<std::int64_t>();
}

/// j[key] as an unsigned 64-bit seed; anything but a non-negative integer throws naming the key.
inline std::uint64_t cursor_seed(const nlohmann::json& j, const char* key, const std::string& who) {
    const nlohmann::json& v = j.at(key);
    check(v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0), who, ": cursor key '", key,
          "' must be a non-negative integer, got ", v.dump());
    return v.get<std::uint64_t>();
}

/// Checks that j["source"] names `kind`.
inline void check_cursor_source(const nlohmann::json& j, const std::string& kind, const std::string& who) {
    const nlohmann::json& v = j.at("source");
    check(v.is_string() && v.get<std::string>() == kind, who, ": cursor key 'source' must be \"", kind, "\", got ",
          v.dump());
}

}  // namespace detail

}  // namespace recur
