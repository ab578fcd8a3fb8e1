// The JSON layer of every configuration: checked reads of one key (type, integer, enum), unknown-key
// rejection, and field tables (key, member, kind, doc) that parse, write and document a struct.
// Not here: any particular configuration's table (config_json.hpp, train/config.hpp) or its validation.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/core/error.hpp>

namespace recur {

namespace detail {

template <class T>
inline constexpr bool is_integer_v = std::is_integral_v<T> && !std::is_same_v<T, bool>;
template <class T>
inline constexpr bool is_integer_vector_v = false;
template <class U, class A>
inline constexpr bool is_integer_vector_v<std::vector<U, A>> = is_integer_v<U>;

/// Reads j[key] as T if present, naming the key (and `where`) on a type error. Integers (and arrays
/// of integers) must be JSON integers: nlohmann would convert 2.5 or 1e119 to an integer (the
/// latter undefined behaviour), so a number with a fraction or an exponent is an error instead.
template <class T>
void read_key(const nlohmann::json& j, const char* key, T& out, const std::string& where) {
    const auto it = j.find(key);
    if (it == j.end()) return;
    if constexpr (is_integer_v<T>) {
        check(it->is_number_integer(), "recur: ", where, "key '", key, "' must be an integer, got ", it->dump());
    } else if constexpr (is_integer_vector_v<T>) {
        check(it->is_array() && std::all_of(it->begin(), it->end(), [](const auto& v) { return v.is_number_integer(); }),
              "recur: ", where, "key '", key, "' must be an array of integers");
    }
    try {
        out = it->get<T>();
    } catch (const nlohmann::json::exception&) {
        fail("recur: ", where, "key '", key, "' has the wrong type (", it->type_name(), ")");
    }
}

/// Reads a string key naming one of `names`; absent keeps `current`; an unknown name throws naming
/// the key, the value and the names allowed.
template <class E>
E read_enum(const nlohmann::json& j, const char* key, E current, std::span<const std::pair<const char*, E>> names,
            const std::string& where) {
    std::string v;
    read_key(j, key, v, where);
    if (v.empty()) return current;
    for (const auto& [n, e] : names)
        if (v == n) return e;
    std::string allowed;
    for (const auto& [n, e] : names) allowed += std::string(allowed.empty() ? "" : ", ") + n;
    fail("recur: ", where, "key '", key, "' has the unknown value '", v, "' (one of: ", allowed, ")");
}

template <class E>
E read_enum(const nlohmann::json& j, const char* key, E current, std::initializer_list<std::pair<const char*, E>> names,
            const std::string& where) {
    return read_enum(j, key, current, std::span<const std::pair<const char*, E>>(names.begin(), names.size()), where);
}

/// The name of `e` in `names` ("?" when absent).
template <class E>
const char* enum_name(E e, std::span<const std::pair<const char*, E>> names) {
    for (const auto& [n, v] : names)
        if (v == e) return n;
    return "?";
}

inline void reject_unknown(const nlohmann::json& j, const std::set<std::string>& known, const std::string& where) {
    check(j.is_object(), "recur: ", where, "expected a JSON object, got ", j.type_name());
    for (const auto& [k, v] : j.items())
        check(known.count(k) == 1, "recur: ", where, "unknown key '", k, "'");
}

}  // namespace detail

/// One row of a field table: the JSON key of member `member` of S, and its doc string. The kind
/// follows from T: an integer type is read as a JSON integer (a fraction or an exponent is an
/// error), other scalars (double, bool, std::string) by nlohmann's conversion, and an enum by name
/// from `names`. The default is whatever a value-initialised S holds.
template <class S, class T>
struct json_field {
    const char* key;
    T S::*member;
    const char* doc;
    std::span<const std::pair<const char*, T>> names{};  ///< enums only: JSON name of each value
    std::int64_t at_least = std::numeric_limits<std::int64_t>::min();  ///< std::int64_t only: smallest valid value
};

/// A scalar field (double, std::uint64_t, bool, std::string).
template <class S, class T>
constexpr json_field<S, T> field(const char* key, T S::*member, const char* doc) {
    return {key, member, doc};
}
/// An integer field whose valid values are >= at_least (check_minima).
template <class S>
constexpr json_field<S, std::int64_t> integer_field(const char* key, std::int64_t S::*member, std::int64_t at_least,
                                                    const char* doc) {
    return {key, member, doc, {}, at_least};
}
/// An enum field read and written by the names in `names`.
template <class S, class E, std::size_t N>
constexpr json_field<S, E> enum_field(const char* key, E S::*member, const std::pair<const char*, E> (&names)[N],
                                      const char* doc) {
    return {key, member, doc, std::span<const std::pair<const char*, E>>(names)};
}

/// A field whose value is itself a table-described struct, read by `read(json, where)` (which
/// validates it) and written by `write`.
template <class S, class T>
struct json_section {
    const char* key;
    T S::*member;
    const char* doc;
    T (*read)(const nlohmann::json&, const std::string&);
    nlohmann::json (*write)(const T&);
};

/// A row of a member struct's table placed in its parent's table: key `inner.key` reads and
/// writes (s.*outer).*inner.member, so model_config's "rope_theta" is c.rope.theta.
template <class S, class I, class Row>
struct json_nested {
    const char* key;
    I S::*outer;
    Row inner;
    const char* doc;
};
template <class S, class I, class Row>
constexpr json_nested<S, I, Row> nested(I S::*outer, Row inner) {
    return {inner.key, outer, inner, inner.doc};
}

namespace detail {

template <class S, class T>
void read_field(const nlohmann::json& j, S& s, const json_field<S, T>& f, const std::string& at, const std::string&) {
    if constexpr (std::is_enum_v<T>)
        s.*f.member = read_enum(j, f.key, s.*f.member, f.names, at);
    else
        read_key(j, f.key, s.*f.member, at);
}

template <class S, class T>
void read_field(const nlohmann::json& j, S& s, const json_section<S, T>& f, const std::string&,
                const std::string& where) {
    if (const auto it = j.find(f.key); it != j.end()) s.*f.member = f.read(*it, where);
}

template <class S, class I, class Row>
void read_field(const nlohmann::json& j, S& s, const json_nested<S, I, Row>& f, const std::string& at,
                const std::string& where) {
    read_field(j, s.*f.outer, f.inner, at, where);
}

template <class S, class T>
void write_field(nlohmann::json& j, const S& s, const json_field<S, T>& f) {
    if constexpr (std::is_enum_v<T>)
        j[f.key] = enum_name(s.*f.member, f.names);
    else
        j[f.key] = s.*f.member;
}

/// A section whose writer returns null (an optional that is empty) is left out.
template <class S, class T>
void write_field(nlohmann::json& j, const S& s, const json_section<S, T>& f) {
    if (nlohmann::json v = f.write(s.*f.member); !v.is_null()) j[f.key] = std::move(v);
}

template <class S, class I, class Row>
void write_field(nlohmann::json& j, const S& s, const json_nested<S, I, Row>& f) {
    write_field(j, s.*f.outer, f.inner);
}

template <class S, class T>
std::string field_kind(const json_field<S, T>& f) {
    if constexpr (std::is_enum_v<T>) {
        std::string out;
        for (const auto& [n, e] : f.names) out += std::string(out.empty() ? "" : " | ") + "\"" + n + "\"";
        return out;
    } else if constexpr (std::is_same_v<T, bool>) {
        return "bool";
    } else if constexpr (std::is_same_v<T, std::string>) {
        return "string";
    } else if constexpr (std::is_integral_v<T>) {
        return "integer";
    } else {
        return "number";
    }
}

template <class S, class T>
std::string field_kind(const json_section<S, T>&) {
    return "object";
}

template <class S, class I, class Row>
std::string field_kind(const json_nested<S, I, Row>& f) {
    return field_kind(f.inner);
}

}  // namespace detail

/// The keys of a field table.
template <class... F>
std::set<std::string> field_keys(const std::tuple<F...>& fields) {
    return std::apply([](const auto&... f) { return std::set<std::string>{f.key...}; }, fields);
}

/// Reads the fields of `fields` present in object `j` into `s` (absent keys keep their values);
/// unknown keys and wrong types throw recur::error naming the key, prefixed by `at`. Sections are
/// read with `where`, the caller's location (they add their own name).
template <class S, class... F>
void read_fields(const nlohmann::json& j, S& s, const std::tuple<F...>& fields, const std::string& at,
                 const std::string& where) {
    detail::reject_unknown(j, field_keys(fields), at);
    std::apply([&](const auto&... f) { (detail::read_field(j, s, f, at, where), ...); }, fields);
}

/// Every field of `s` as a JSON object.
template <class S, class... F>
nlohmann::json write_fields(const S& s, const std::tuple<F...>& fields) {
    nlohmann::json j = nlohmann::json::object();
    std::apply([&](const auto&... f) { (detail::write_field(j, s, f), ...); }, fields);
    return j;
}

/// Throws recur::error, prefixed by `prefix`, naming the first integer field of `s` below its
/// table's at_least: "<prefix>'key' must be >= lo, got v".
template <class S, class... F>
void check_minima(const S& s, const std::tuple<F...>& fields, const std::string& prefix) {
    auto one = [&](const auto& f) {
        if constexpr (requires { f.at_least; }) {
            if constexpr (std::is_same_v<std::remove_cvref_t<decltype(s.*f.member)>, std::int64_t>)
                check(s.*f.member >= f.at_least, prefix, "'", f.key, "' must be >= ", f.at_least, ", got ", s.*f.member);
        }
    };
    std::apply([&](const auto&... f) { (one(f), ...); }, fields);
}

/// One line per field: "<indent>key (kind, default D): doc", the default from `defaults` (sections:
/// "key (object): doc").
template <class S, class... F>
std::string fields_help(const std::tuple<F...>& fields, const S& defaults = S{}, const std::string& indent = "  ") {
    std::string out;
    const nlohmann::json d = write_fields(defaults, fields);
    std::apply(
        [&](const auto&... f) {
            ((out += indent + f.key + " (" + detail::field_kind(f) +
                     (detail::field_kind(f) == "object" ? std::string() : ", default " + d[f.key].dump()) + "): " +
                     f.doc + "\n"),
             ...);
        },
        fields);
    return out;
}

}  // namespace recur
