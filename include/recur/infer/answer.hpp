// Final answers of question/answer tasks: extraction from generated text ("#### n" as in GSM8K, the
// last number, or a regex), normalisation and matching. Not here: generation, prompts or accuracy tallies.
#pragma once

#include <cstddef>
#include <optional>
#include <regex>
#include <string>
#include <string_view>

#include <recur/core/error.hpp>

namespace recur {

namespace detail {

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/// Where a number lies in a text: [begin, end).
struct number_at {
    std::size_t begin, end;
};

/// The first number in `text` at or after `from`:
/// ```
/// ['-']['$'] digits (',' ddd)* ['.' digits]
/// ```
/// where a ',' group needs exactly three digits, a '.' needs a digit after it (so a full stop ends
/// the number), and the '-' counts only when no letter or digit precedes it ("5-3" holds 5 and 3).
inline std::optional<number_at> find_number(std::string_view text, std::size_t from) {
    std::size_t i = from;
    while (i < text.size() && !is_digit(text[i])) ++i;
    if (i == text.size()) return std::nullopt;
    std::size_t begin = i;
    if (begin > from && text[begin - 1] == '$') --begin;
    if (begin > from && text[begin - 1] == '-' && (begin - 1 == 0 || !is_alnum(text[begin - 2]))) --begin;
    const auto digits_from = [&](std::size_t j) {
        while (j < text.size() && is_digit(text[j])) ++j;
        return j;
    };
    std::size_t end = digits_from(i);
    while (end + 3 < text.size() && text[end] == ',' && digits_from(end + 1) == end + 4) end += 4;
    if (end + 1 < text.size() && text[end] == '.' && is_digit(text[end + 1])) end = digits_from(end + 1);
    return number_at{begin, end};
}

/// `s` as a canonical decimal ("-007.50" -> "-7.5", "-0.0" -> "0", ".5" -> "0.5"), or nullopt
/// unless s is ['-'] digits ['.' digits] with at least one digit.
inline std::optional<std::string> canonical_number(std::string_view s) {
    const bool negative = !s.empty() && s.front() == '-';
    if (negative) s.remove_prefix(1);
    const std::size_t dot = s.find('.');
    std::string_view whole = s.substr(0, dot), frac = dot == std::string_view::npos ? "" : s.substr(dot + 1);
    const auto all_digits = [](std::string_view d) {
        for (const char c : d)
            if (!is_digit(c)) return false;
        return true;
    };
    if (!all_digits(whole) || !all_digits(frac) || (whole.empty() && frac.empty()) ||
        (dot != std::string_view::npos && frac.empty()))
        return std::nullopt;
    while (whole.size() > 1 && whole.front() == '0') whole.remove_prefix(1);
    while (!frac.empty() && frac.back() == '0') frac.remove_suffix(1);
    if (whole.empty()) whole = "0";
    std::string out = negative && (whole != "0" || !frac.empty()) ? "-" : "";
    out += whole;
    if (!frac.empty()) (out += '.') += frac;
    return out;
}

/// Compiles an ECMAScript regex; a bad pattern throws recur::error naming `spec`.
inline std::regex compile_answer_regex(const std::string& pattern, std::string_view spec) {
    try {
        return std::regex(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
        fail("recur::answer_extractor: invalid regex in '", spec, "': ", e.what());
    }
}

}  // namespace detail

/// Canonical form of an answer, for comparison: trims whitespace, drops every '$', the commas between
/// digits and one trailing '.', then writes a number ['-'] digits ['.' digits] canonically ("18.00"
/// -> "18", "-0" -> "0", "007" -> "7", "3.50" -> "3.5") and lower-cases anything else (ASCII only).
inline std::string normalize_answer(std::string_view text) {
    std::string s;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const bool separator = text[i] == ',' && i > 0 && i + 1 < text.size() && detail::is_digit(text[i - 1]) &&
                               detail::is_digit(text[i + 1]);
        if (text[i] != '$' && !separator) s += text[i];
    }
    const auto trim = [&s] {
        const std::size_t first = s.find_first_not_of(" \t\n\r\f\v");
        s = first == std::string::npos ? "" : s.substr(first, s.find_last_not_of(" \t\n\r\f\v") - first + 1);
    };
    trim();
    if (!s.empty() && s.back() == '.') {
        s.pop_back();
        trim();
    }
    if (auto number = detail::canonical_number(s)) return *number;
    for (char& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

/// True when both answers have the same normalize_answer form.
inline bool answers_match(std::string_view predicted, std::string_view reference) {
    return normalize_answer(predicted) == normalize_answer(reference);
}

/// How to find the final answer in a generated text; every result passes through normalize_answer.
///
/// Numbers are ['-']['$'] digits (',' ddd)* ['.' digits]; a '-' right after a letter or digit is
/// not a sign.
struct answer_extractor {
    enum class kind {
        gsm8k,        ///< the first number after the last "####", on the same line
        last_number,  ///< the last number in the text
        regex,        ///< the last match of `pattern`: its first capture group, or the whole match
    };
    kind how = kind::gsm8k;
    std::string pattern;  ///< ECMAScript regex, for kind::regex only

    /// "gsm8k", "last-number" or "regex:<ECMAScript pattern>". An unknown spec or a pattern that does
    /// not compile throws recur::error naming the spec.
    static answer_extractor parse(std::string_view spec) {
        if (spec == "gsm8k") return {kind::gsm8k, ""};
        if (spec == "last-number") return {kind::last_number, ""};
        constexpr std::string_view regex_prefix = "regex:";
        check(spec.starts_with(regex_prefix), "recur::answer_extractor: unknown spec '", spec,
              "' (expected gsm8k, last-number or regex:<pattern>)");
        answer_extractor e{kind::regex, std::string(spec.substr(regex_prefix.size()))};
        detail::compile_answer_regex(e.pattern, spec);
        return e;
    }

    /// The normalised answer in `text`, or nullopt when there is none (no "####" or no number after
    /// it; no number; no match, or a match whose capture group did not take part). A pattern that
    /// does not compile throws recur::error. The regex is compiled on every call.
    std::optional<std::string> extract(std::string_view text) const {
        if (how == kind::regex) return extract_regex(text);
        if (how == kind::gsm8k) {
            const std::size_t mark = text.rfind("####");
            if (mark == std::string_view::npos) return std::nullopt;
            text = text.substr(mark + 4);
            text = text.substr(0, text.find('\n'));
        }
        auto found = detail::find_number(text, 0);
        if (how == kind::last_number)
            for (auto next = found; next; next = detail::find_number(text, next->end)) found = next;
        if (!found) return std::nullopt;
        return normalize_answer(text.substr(found->begin, found->end - found->begin));
    }

private:
    std::optional<std::string> extract_regex(std::string_view text) const {
        const std::regex re = detail::compile_answer_regex(pattern, "regex:" + pattern);
        std::cmatch last;
        for (std::cregex_iterator it(text.data(), text.data() + text.size(), re), end; it != end; ++it) last = *it;
        if (last.empty()) return std::nullopt;
        const auto& group = re.mark_count() > 0 ? last[1] : last[0];
        if (!group.matched) return std::nullopt;
        return normalize_answer(group.str());
    }
};

}  // namespace recur
