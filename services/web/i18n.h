#pragma once

// i18n: the web workspace in the reader's language. Message catalogs (gettext .po files, parsed
// here), the languages a node offers, and dates, times and numbers formatted with ICU.
//
// Why a parser of our own rather than libintl: gettext() translates through one process-wide
// locale (setlocale, LANGUAGE, textdomain), while the web server answers each request in that
// request's language, on many threads at once. A Catalog is a plain immutable map and a Translator
// is an object passed to whoever renders; there is no global state to switch per request.
//
// Catalogs live in the repository as services/web/po/*.po (the template of every message is
// services/web/po/passage.pot) and are embedded in the binary at build time
// (services/web/po/embed_po.cmake): a node never reads a translation file at run time.
//
// Adding a language (for translators):
//   1. Copy passage.pot to services/web/po/LL.po (LL: the ISO 639 code, e.g. "ps" for Pashto)
//      and fill in its header: "Language: LL\n" and
//      "Content-Type: text/plain; charset=UTF-8\n".
//   2. Translate every msgstr. Keep each {0}, {1}, ... placeholder: it stands for a value the
//      page fills in, and may move anywhere in the sentence. Keep HTML-free text HTML-free.
//      Remove "#, fuzzy" from entries you have checked (fuzzy entries are not used).
//   3. Add po/LL.po to PASSAGE_WEB_PO in services/web/CMakeLists.txt.
//   4. Check: python3 tools/po-check.py services/web/po/passage.pot services/web/po/LL.po
//      (every message translated, placeholders intact), then build and run the unit tests.
// The language's own name and writing direction come from ICU (Urdu: "اردو", right to left).
// When an English text changes or a new one appears, update passage.pot and every .po with it.
//
// Thread-safety: a Catalog is immutable after Parse; a Translator is immutable after
// construction except for its internally locked store of msgids it has no translation for, so one
// Translator is shared by all request threads. FormatTime, FormatUtc, FormatNumber and
// ValidateTimeZone may be called from any thread (ICU formatters are cached per thread).
//
// Limits: no plural forms (msgid_plural is refused); English is the source language and is
// shown as written in the code.

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/codes.h"
#include "core/status.h"

namespace passage::web {

// One language's messages, from a gettext .po file.
//
// Read: comments (#, #., #:, #|, #~ obsolete entries are ignored), the "#, fuzzy" flag (such an
// entry is kept in messages() but never used as a translation), msgctxt, msgid, msgstr, strings
// continued over several lines ("a" "b" is "ab"), the escapes \n \t \r \" \\, and the header (the
// entry whose msgid is ""), of which only Language and the charset (UTF-8 only) are read; it is
// not a message. An empty msgstr means untranslated.
class Catalog {
 public:
  struct Message {
    std::string context;  // msgctxt; empty when none
    std::string id;       // msgid: the English text
    std::string str;      // msgstr; empty = untranslated
    bool fuzzy = false;
    int line = 0;  // of the msgid, 1-based
  };

  // An empty catalog: translates nothing.
  Catalog() = default;

  // Parses the text of a .po file; `source` names it in errors. InvalidArgument, field = `source`,
  // message "line N: what is wrong", for bad syntax, an unknown escape, msgid_plural or msgstr[N]
  // (plural forms are not supported), a message listed twice, or a charset other than UTF-8.
  static Result<Catalog> Parse(std::string_view text, std::string source);

  // Reads and parses the file at `path`. IoError when it cannot be read.
  static Result<Catalog> Load(const std::string& path);

  // The translation of `msgid` in `context` (empty: none), or nullptr when the catalog does not
  // have it, or has it untranslated or fuzzy. The pointer lives as long as the catalog.
  const std::string* Find(std::string_view msgid, std::string_view context = {}) const;

  // The header's Language ("ur", "ur_PK"); empty when the header does not say.
  const std::string& language() const { return language_; }
  // Every message but the header, in file order, fuzzy and untranslated ones included.
  const std::vector<Message>& messages() const { return messages_; }

 private:
  std::string language_;
  std::vector<Message> messages_;
  // "context\x04msgid" (or "msgid") -> index in messages_, for translated, non-fuzzy messages.
  std::map<std::string, size_t, std::less<>> index_;
};

// A language the workspace can be shown in.
struct Language {
  std::string code;  // ISO 639: "en", "ur" (what <html lang> says)
  std::string name;  // its own name, for a language menu: "English", "اردو"
  bool rtl = false;  // written right to left (<html dir="rtl">)
};

// The languages a node offers and their catalogs: English (the source, shown as written) first.
//
// Example: T("ur", "Inbox") is "ان باکس"; T("ur", "no such text") and T("en", "Inbox") return the
// msgid itself; Format("ur", "Referral for {0}: {1}", {"shelter", "sent"}) puts the values where
// the Urdu sentence has {0} and {1}.
class Translator {
 public:
  // English and every catalog embedded at build time (services/web/po/*.po). InvalidArgument when
  // an embedded catalog does not parse or has no Language (the unit tests keep such a build from
  // shipping).
  static Result<std::unique_ptr<Translator>> Builtin();

  // English and `catalogs`, each the language its header names (a catalog for "en" replaces the
  // identity). InvalidArgument when a catalog has no Language or two catalogs have the same one.
  static Result<std::unique_ptr<Translator>> Create(std::vector<Catalog> catalogs);

  // English first, then the catalogs' languages in the order given.
  const std::vector<Language>& languages() const { return languages_; }

  // The language `lang` names: "ur", "ur-PK", "ur_PK" and "UR" are Urdu (the primary subtag is
  // compared, ignoring case). English when the language is not offered.
  const Language& Find(std::string_view lang) const;

  // `msgid` in language `lang` (see Find): its translation, or `msgid` itself when there is
  // none. The reference stays valid as long as the Translator: an untranslated msgid is copied
  // once into a store the Translator keeps, so msgids should be the program's fixed texts, not
  // values from requests.
  const std::string& T(std::string_view lang, std::string_view msgid) const;
  // The same for a message with a msgctxt (one English word with two meanings).
  const std::string& TContext(std::string_view lang, std::string_view context,
                              std::string_view msgid) const;

  // T(lang, msgid) with each "{n}" replaced by args[n] (n from 0; a translation may reorder
  // them). A placeholder without a matching argument is left as it is; nothing else changes.
  std::string Format(std::string_view lang, std::string_view msgid,
                     std::initializer_list<std::string_view> args) const;

  // Format for an HTML page: the translated text is HTML-escaped (web::Esc), the args are
  // inserted as they are, so they must already be HTML ("<bdi>" + Esc(login) + "</bdi>").
  std::string FormatHtml(std::string_view lang, std::string_view msgid,
                         std::initializer_list<std::string_view> args) const;

 private:
  Translator() = default;
  const Catalog& CatalogOf(std::string_view lang) const;
  const std::string& Keep(std::string_view msgid) const;

  std::vector<Language> languages_;
  std::vector<Catalog> catalogs_;  // parallel to languages_; [0] is English's (usually empty)
  mutable std::shared_mutex kept_mu_;
  mutable std::set<std::string, std::less<>> kept_;  // GUARDED_BY(kept_mu_); node-based: stable
};

// `unix_ms` as a date and time in time zone `tz` (IANA, e.g. "Asia/Karachi"; empty = UTC) for
// readers of `lang`: the ICU pattern for the skeleton "d MMM y HH:mm" in the locale, e.g.
// "7 Dec 2026, 19:09" (en) and "7 دسمبر، 2026، 19:09" (ur). `lang` is a language code or an ICU
// locale id: a bare code formats as in Pakistan ("en" -> en_PK, "ur" -> ur_PK), "en_GB" as
// given. A tz that ValidateTimeZone refuses formats as UTC; if ICU fails, FormatUtc's text.
std::string FormatTime(int64_t unix_ms, const std::string& tz, std::string_view lang);

// `unix_ms` in UTC, to the minute, the same in every language (for a title on hover):
// "2026-12-07 14:09 UTC".
std::string FormatUtc(int64_t unix_ms);

// The offset from UTC of time zone `tz` at each instant, from ICU's tz database (daylight saving
// included), for core::SetShownTimeZone; an empty function for "" or a zone ValidateTimeZone
// refuses. Callable from any thread.
core::UtcOffsetFn ZoneOffset(const std::string& tz);

// Ok for "" (UTC) and for a time zone name ICU's tz database knows ("Asia/Karachi", "UTC",
// "Europe/London"); InvalidArgument naming the field http.time_zone otherwise, including for
// ICU's own "Etc/Unknown" and custom offsets such as "GMT+05:00".
Status ValidateTimeZone(const std::string& tz);

// `n` with the locale's grouping and digits (see FormatTime for `lang`): "1,234,567" in en and
// in ur (ICU 72's ur_PK numbers with Latin digits; see i18n.cc).
std::string FormatNumber(int64_t n, std::string_view lang);

}  // namespace passage::web
