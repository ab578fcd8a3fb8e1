// Corpora as documents: text split at `<|endoftext|>` lines (else blank lines), JSONL "text" or GSM8K
// "question"/"answer"; tokenize_corpus encodes each after BOS. Not here: shuffling, sharding, streaming.
#pragma once

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/core/error.hpp>
#include <recur/io/read_text.hpp>
#include <recur/io/tokenizer.hpp>

namespace recur {

/// How a corpus file is laid out; `automatic` means jsonl for a ".jsonl" file name, text otherwise.
enum class corpus_format { automatic, text, jsonl };

/// The line that separates documents in TinyStories-style text files.
inline constexpr std::string_view end_of_text_marker = "<|endoftext|>";

namespace detail {

inline std::string_view strip_whitespace(std::string_view s) {
    constexpr std::string_view ws = " \t\n\r\f\v";
    const auto first = s.find_first_not_of(ws);
    if (first == std::string_view::npos) return {};
    return s.substr(first, s.find_last_not_of(ws) - first + 1);
}

/// Calls fn(line, line_number) for each line of `text` (1-based, without its '\n').
template <class Fn>
void for_each_line(std::string_view text, Fn&& fn) {
    std::int64_t number = 0;
    for (std::size_t start = 0; start < text.size();) {
        const auto end = std::min(text.find('\n', start), text.size());
        fn(text.substr(start, end - start), ++number);
        start = end + 1;
    }
}

/// Documents of a text file: the spans between `<|endoftext|>` lines when there is one, otherwise
/// the paragraphs between blank lines; each stripped of surrounding whitespace, empty ones skipped.
inline void for_each_text_document(std::string_view text, const std::function<void(std::string_view)>& fn) {
    bool has_marker = false;
    for_each_line(text, [&](std::string_view line, std::int64_t) {
        has_marker = has_marker || strip_whitespace(line) == end_of_text_marker;
    });
    const char* doc_begin = text.data();
    auto emit = [&](const char* end) {
        const auto doc = strip_whitespace({doc_begin, static_cast<std::size_t>(end - doc_begin)});
        if (!doc.empty()) fn(doc);
    };
    for_each_line(text, [&](std::string_view line, std::int64_t) {
        const auto stripped = strip_whitespace(line);
        if (has_marker ? stripped == end_of_text_marker : stripped.empty()) {
            emit(line.data());
            doc_begin = line.data() + line.size();
        }
    });
    emit(text.data() + text.size());
}

/// The string field `key` of a JSON object, or null.
inline const std::string* string_field(const nlohmann::json& j, const char* key) {
    const auto it = j.is_object() ? j.find(key) : j.end();
    return it != j.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
}

/// Reads a whole file; `who` names the caller in io_error messages.

/// Documents of a JSONL file: one object per non-blank line, with a string "text", or strings
/// "question" and "answer" (GSM8K) joined by a newline.
inline void for_each_jsonl_document(std::string_view text, const std::string& path,
                                    const std::function<void(std::string_view)>& fn) {
    for_each_line(text, [&](std::string_view line, std::int64_t number) {
        if (strip_whitespace(line).empty()) return;
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception& e) {
            io_fail("recur::for_each_document: '", path, "': line ", number, " is not valid JSON: ", e.what());
        }
        if (const std::string* t = string_field(j, "text")) {
            const auto doc = strip_whitespace(*t);
            if (!doc.empty()) fn(doc);
            return;
        }
        const std::string *q = string_field(j, "question"), *a = string_field(j, "answer");
        if (q == nullptr || a == nullptr)
            io_fail("recur::for_each_document: '", path, "': line ", number,
                    " needs a string \"text\" field, or string \"question\" and \"answer\" fields");
        const std::string doc = *q + "\n" + *a;
        if (const auto s = strip_whitespace(doc); !s.empty()) fn(s);
    });
}

}  // namespace detail

/// One question/answer example of a JSONL file, with its 1-based line number.
struct qa_pair {
    std::string question, answer;
    std::int64_t line = 0;
};

/// Every non-blank line of a JSONL file as an object with string "question" and "answer" fields
/// (GSM8K), or "prompt" and "completion". A missing file, a line that is not JSON or lacks the fields
/// throws recur::io_error naming `who`, the file and the line.
inline std::vector<qa_pair> read_qa_pairs(const std::string& path, std::string_view who) {
    const std::string text = detail::read_text_file(path, who);
    std::vector<qa_pair> out;
    detail::for_each_line(text, [&](std::string_view line, std::int64_t number) {
        if (detail::strip_whitespace(line).empty()) return;
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception& e) {
            io_fail(who, ": '", path, "': line ", number, " is not valid JSON: ", e.what());
        }
        const std::string *question = detail::string_field(j, "question"), *answer = detail::string_field(j, "answer");
        if (question == nullptr && answer == nullptr) {
            question = detail::string_field(j, "prompt");
            answer = detail::string_field(j, "completion");
        }
        if (question == nullptr || answer == nullptr)
            io_fail(who, ": '", path, "': line ", number,
                    " needs string \"question\" and \"answer\" fields (or \"prompt\" and \"completion\")");
        out.push_back({*question, *answer, number});
    });
    return out;
}

/// `format`, with `automatic` resolved from the file name.
inline corpus_format resolve_corpus_format(const std::string& path, corpus_format format) {
    if (format != corpus_format::automatic) return format;
    return path.ends_with(".jsonl") ? corpus_format::jsonl : corpus_format::text;
}

/// Calls fn(document) for each document of the file at `path`, in order (see corpus_format). Each
/// document is stripped of surrounding whitespace, as llama2.c's pretokenizer does; empty ones are
/// skipped. Returns the file's size in bytes. A missing file throws recur::io_error; so does a JSONL
/// line that is not valid JSON or lacks the fields, naming the file and the line number.
inline std::int64_t for_each_document(const std::string& path, corpus_format format,
                                      const std::function<void(std::string_view)>& fn) {
    const std::string text = detail::read_text_file(path, "recur::for_each_document");
    if (resolve_corpus_format(path, format) == corpus_format::jsonl)
        detail::for_each_jsonl_document(text, path, fn);
    else
        detail::for_each_text_document(text, fn);
    return static_cast<std::int64_t>(text.size());
}

/// A corpus as one token stream.
struct tokenized_corpus {
    std::vector<std::int32_t> ids;  // every document as BOS, its tokens[, EOS], concatenated
    std::int64_t documents = 0;
    std::int64_t bytes = 0;  // size of the input file
};

/// Encodes every document of `path` with its beginning-of-sequence tokens in front (llama2.c's BOS,
/// or a Hugging Face tokenizer's template) and, when `eos`, EOS after it, concatenated in file order.
/// Tokenizer: llama2c_tokenizer, hf_tokenizer or any_tokenizer (a TextTokenizer, io/any_tokenizer.hpp).
template <class Tokenizer>
tokenized_corpus tokenize_corpus(const Tokenizer& tokenizer, const std::string& path,
                                 corpus_format format = corpus_format::automatic, bool eos = false) {
    tokenized_corpus out;
    out.bytes = for_each_document(path, format, [&](std::string_view doc) {
        tokenizer.encode_into(out.ids, doc, true, eos);
        ++out.documents;
    });
    return out;
}

}  // namespace recur
