#include "services/web/i18n.h"

#include <unicode/dtptngen.h>
#include <unicode/locid.h>
#include <unicode/numberformatter.h>
#include <unicode/smpdtfmt.h>
#include <unicode/timezone.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "core/codes.h"
#include "services/web/i18n_embedded.h"
#include "services/web/web_server.h"

namespace passage::web {

namespace {

// ---- .po parsing ----

// The key of a message in Catalog::index_: gettext's own "context EOT msgid".
std::string Key(std::string_view context, std::string_view msgid) {
  if (context.empty()) {
    return std::string(msgid);
  }
  std::string key(context);
  key += '\x04';
  key += msgid;
  return key;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::string_view TrimLeft(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  return s;
}

std::string_view Trim(std::string_view s) {
  s = TrimLeft(s);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

class PoParser {
 public:
  explicit PoParser(std::string source) : source_(std::move(source)) {}

  Status Error(int line, const std::string& why) const {
    return Status::InvalidArgument(source_, "line " + std::to_string(line) + ": " + why);
  }

  // Decodes the quoted string at the start of `s` (leading blanks allowed) and appends it to
  // `out`. Only blanks may follow the closing quote.
  Status AppendQuoted(std::string_view s, int line, std::string* out) const {
    s = TrimLeft(s);
    if (s.empty() || s.front() != '"') {
      return Error(line, "expected a string in double quotes");
    }
    size_t i = 1;
    for (;; ++i) {
      if (i >= s.size()) {
        return Error(line, "the string has no closing double quote");
      }
      const char c = s[i];
      if (c == '"') {
        break;
      }
      if (c != '\\') {
        *out += c;
        continue;
      }
      if (++i >= s.size()) {
        return Error(line, "the string has no closing double quote");
      }
      switch (s[i]) {
        case 'n':
          *out += '\n';
          break;
        case 't':
          *out += '\t';
          break;
        case 'r':
          *out += '\r';
          break;
        case '"':
          *out += '"';
          break;
        case '\\':
          *out += '\\';
          break;
        default:
          return Error(line,
                       std::string("unknown escape \\") + s[i] + " (known: \\n \\t \\r \\\" \\\\)");
      }
    }
    if (!Trim(s.substr(i + 1)).empty()) {
      return Error(line, "text after the closing double quote");
    }
    return Status::Ok();
  }

  Status ParseHeader(const Catalog::Message& m, std::string* language) const {
    std::string_view rest = m.str;
    while (!rest.empty()) {
      const size_t end = rest.find('\n');
      const std::string_view field = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
      const size_t colon = field.find(':');
      if (colon == std::string_view::npos) {
        continue;
      }
      const std::string name = Lower(Trim(field.substr(0, colon)));
      const std::string_view value = Trim(field.substr(colon + 1));
      if (name == "language") {
        *language = std::string(value);
      } else if (name == "content-type") {
        const size_t at = Lower(value).find("charset=");
        if (at != std::string::npos) {
          const std::string charset = Lower(Trim(value.substr(at + 8)));
          // "CHARSET" is the placeholder of a fresh template (msginit replaces it).
          if (charset != "utf-8" && charset != "utf8" && charset != "charset") {
            return Error(m.line, "the header's charset is " + std::string(value.substr(at + 8)) +
                                     "; catalogs are read as UTF-8 only");
          }
        }
      }
    }
    return Status::Ok();
  }

 private:
  std::string source_;
};

}  // namespace

// ---- Catalog ----

Result<Catalog> Catalog::Parse(std::string_view text, std::string source) {
  PoParser parser(std::move(source));
  Catalog catalog;
  if (StartsWith(text, "\xEF\xBB\xBF")) {
    text.remove_prefix(3);  // a byte order mark some editors write
  }

  // Where the entry being read is: nothing yet, after msgctxt, after msgid, after msgstr.
  enum class At { kNone, kContext, kId, kStr };
  At at = At::kNone;
  Catalog::Message cur;
  bool has_context = false;
  bool fuzzy_next = false;  // a "#, fuzzy" seen since the last entry
  bool header_seen = false;
  std::map<std::string, int, std::less<>> first_line;  // every message's key -> line of its msgid
  std::string* target = nullptr;                       // where a continued string goes

  auto finish = [&]() -> Status {
    if (at != At::kStr) {
      return Status::Ok();
    }
    at = At::kNone;
    target = nullptr;
    Catalog::Message m = std::move(cur);
    cur = Catalog::Message();
    m.fuzzy = fuzzy_next;
    fuzzy_next = false;
    const bool had_context = has_context;
    has_context = false;
    if (m.id.empty()) {
      if (had_context) {
        return parser.Error(m.line,
                            "an empty msgid is allowed only for the header, "
                            "which has no msgctxt");
      }
      if (header_seen) {
        return parser.Error(m.line, "a second header (msgid \"\")");
      }
      header_seen = true;
      return parser.ParseHeader(m, &catalog.language_);  // fuzzy or not: it is not a message
    }
    std::string key = Key(m.context, m.id);
    if (auto it = first_line.find(key); it != first_line.end()) {
      return parser.Error(m.line, "the message \"" + m.id + "\" is listed twice (first at line " +
                                      std::to_string(it->second) + ")");
    }
    first_line.emplace(key, m.line);
    if (!m.fuzzy && !m.str.empty()) {
      catalog.index_.emplace(std::move(key), catalog.messages_.size());
    }
    catalog.messages_.push_back(std::move(m));
    return Status::Ok();
  };

  int line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    line = TrimLeft(line);
    if (line.empty()) {
      continue;
    }
    if (line.front() == '#') {
      if (at == At::kContext || at == At::kId) {
        return parser.Error(line_no, "a comment inside an entry (before its msgstr)");
      }
      RETURN_IF_ERROR(finish());
      if (StartsWith(line, "#,")) {
        std::string_view flags = line.substr(2);
        while (!flags.empty()) {
          const size_t comma = flags.find(',');
          if (Trim(flags.substr(0, comma)) == "fuzzy") {
            fuzzy_next = true;
          }
          flags = comma == std::string_view::npos ? std::string_view() : flags.substr(comma + 1);
        }
      }
      continue;  // "# ", "#.", "#:", "#|", "#~" (obsolete entries): for people, not for us
    }
    if (line.front() == '"') {
      if (target == nullptr) {
        return parser.Error(line_no, "a string outside an entry (no msgid or msgstr before it)");
      }
      RETURN_IF_ERROR(parser.AppendQuoted(line, line_no, target));
      continue;
    }
    const size_t word_end = line.find_first_of(" \t\"");
    const std::string_view word = line.substr(0, word_end);
    const std::string_view rest = word_end == std::string_view::npos ? "" : line.substr(word_end);
    if (word == "msgid_plural" || StartsWith(word, "msgstr[")) {
      return parser.Error(line_no,
                          "plural forms (msgid_plural, msgstr[N]) are not supported; "
                          "write the message as sentences without a count");
    }
    if (word == "msgctxt") {
      if (at == At::kContext || at == At::kId) {
        return parser.Error(line_no,
                            "msgctxt must come before its msgid, and an entry must "
                            "end with a msgstr");
      }
      RETURN_IF_ERROR(finish());
      at = At::kContext;
      has_context = true;
      target = &cur.context;
    } else if (word == "msgid") {
      if (at == At::kId) {
        return parser.Error(line_no,
                            "the msgid at line " + std::to_string(cur.line) + " has no msgstr");
      }
      RETURN_IF_ERROR(finish());
      at = At::kId;
      cur.line = line_no;
      target = &cur.id;
    } else if (word == "msgstr") {
      if (at != At::kId) {
        return parser.Error(line_no, "msgstr without a msgid before it");
      }
      at = At::kStr;
      target = &cur.str;
    } else {
      return parser.Error(line_no,
                          "expected msgctxt, msgid, msgstr, a quoted string or a "
                          "comment, not \"" +
                              std::string(line.substr(0, 40)) + "\"");
    }
    RETURN_IF_ERROR(parser.AppendQuoted(rest, line_no, target));
  }
  if (at == At::kContext || at == At::kId) {
    return parser.Error(line_no, "the file ends inside an entry (no msgstr)");
  }
  RETURN_IF_ERROR(finish());
  return catalog;
}

Result<Catalog> Catalog::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::IoError("cannot read the catalog " + path);
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return Status::IoError("cannot read the catalog " + path);
  }
  return Parse(text.str(), path);
}

const std::string* Catalog::Find(std::string_view msgid, std::string_view context) const {
  auto it = context.empty() ? index_.find(msgid) : index_.find(Key(context, msgid));
  return it == index_.end() ? nullptr : &messages_[it->second].str;
}

// ---- Translator ----

namespace {

std::string Utf8(const icu::UnicodeString& s) {
  std::string out;
  s.toUTF8String(out);
  return out;
}

// "ur_PK", "ur-PK", "UR" -> "ur".
std::string PrimarySubtag(std::string_view lang) {
  return Lower(lang.substr(0, lang.find_first_of("-_@.")));
}

Language LanguageOf(const std::string& code) {
  const icu::Locale locale(code.c_str());
  icu::UnicodeString name;
  locale.getDisplayLanguage(locale, name);
  Language l;
  l.code = code;
  l.name = name.isEmpty() ? code : Utf8(name);
  l.rtl = locale.isRightToLeft();
  return l;
}

// `text` with "{n}" replaced by args[n] where there is such an argument.
std::string Substitute(std::string_view text, std::initializer_list<std::string_view> args) {
  std::string out;
  out.reserve(text.size() + 32);
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '{') {
      size_t j = i + 1;
      size_t n = 0;
      while (j < text.size() && j - i <= 3 && std::isdigit(static_cast<unsigned char>(text[j]))) {
        n = n * 10 + static_cast<size_t>(text[j] - '0');
        ++j;
      }
      if (j > i + 1 && j < text.size() && text[j] == '}' && n < args.size()) {
        out += *(args.begin() + n);
        i = j + 1;
        continue;
      }
    }
    out += text[i++];
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<Translator>> Translator::Builtin() {
  std::vector<Catalog> catalogs;
  for (const internal::EmbeddedCatalog& e : internal::EmbeddedCatalogs()) {
    ASSIGN_OR_RETURN(Catalog c, Catalog::Parse(e.text, std::string(e.path)));
    catalogs.push_back(std::move(c));
  }
  return Create(std::move(catalogs));
}

Result<std::unique_ptr<Translator>> Translator::Create(std::vector<Catalog> catalogs) {
  std::unique_ptr<Translator> t(new Translator());
  t->languages_.push_back(LanguageOf("en"));
  t->catalogs_.emplace_back();
  for (Catalog& c : catalogs) {
    const std::string code = PrimarySubtag(c.language());
    if (code.empty()) {
      return Status::InvalidArgument("Language", "a catalog's header names no Language");
    }
    if (code == "en") {
      t->catalogs_[0] = std::move(c);
      continue;
    }
    for (const Language& l : t->languages_) {
      if (l.code == code) {
        return Status::InvalidArgument("Language", "two catalogs for the language " + code);
      }
    }
    t->languages_.push_back(LanguageOf(code));
    t->catalogs_.push_back(std::move(c));
  }
  return t;
}

const Language& Translator::Find(std::string_view lang) const {
  const std::string code = PrimarySubtag(lang);
  for (const Language& l : languages_) {
    if (l.code == code) {
      return l;
    }
  }
  return languages_[0];
}

const Catalog& Translator::CatalogOf(std::string_view lang) const {
  const std::string code = PrimarySubtag(lang);
  for (size_t i = 0; i < languages_.size(); ++i) {
    if (languages_[i].code == code) {
      return catalogs_[i];
    }
  }
  return catalogs_[0];
}

const std::string& Translator::Keep(std::string_view msgid) const {
  {
    std::shared_lock lock(kept_mu_);
    if (auto it = kept_.find(msgid); it != kept_.end()) {
      return *it;
    }
  }
  std::unique_lock lock(kept_mu_);
  return *kept_.emplace(msgid).first;
}

const std::string& Translator::T(std::string_view lang, std::string_view msgid) const {
  const std::string* s = CatalogOf(lang).Find(msgid);
  return s != nullptr ? *s : Keep(msgid);
}

const std::string& Translator::TContext(std::string_view lang, std::string_view context,
                                        std::string_view msgid) const {
  const std::string* s = CatalogOf(lang).Find(msgid, context);
  return s != nullptr ? *s : Keep(msgid);
}

std::string Translator::Format(std::string_view lang, std::string_view msgid,
                               std::initializer_list<std::string_view> args) const {
  return Substitute(T(lang, msgid), args);
}

std::string Translator::FormatHtml(std::string_view lang, std::string_view msgid,
                                   std::initializer_list<std::string_view> args) const {
  return Substitute(Esc(T(lang, msgid)), args);
}

// ---- Dates, times, numbers (ICU) ----
//
// ICU facts this relies on (ICU 72, Debian 12's libicu72, checked when this was written):
// - Locales: a bare language code is given Pakistan's conventions ("en" -> en_PK, "ur" -> ur_PK).
//   en_PK's pattern for "dMMMyHHmm" is "d MMM y, HH:mm" (day before month, like en_GB; plain
//   "en" would give "MMM d, y, HH:mm"); ur_PK's is "d MMM، y، HH:mm" with Urdu month names
//   ("7 دسمبر، 2026، 19:09").
// - Digits: ur_PK's default numbering system is "latn" (CLDR), so Urdu pages show 0-9 and
//   1234567 is "1,234,567", as Pakistani forms, banks and NADRA print them. ICU's ur_IN uses
//   "arabext" (Eastern Arabic-Indic: "۱٬۲۳۴٬۵۶۷"); pass "ur_PK@numbers=arabext" to get those.
// - Time zones: TimeZone::createTimeZone never fails; for a name it does not know it returns
//   "Etc/Unknown", which behaves as GMT. getCanonicalID's isSystemID tells the two apart, and also
//   refuses custom ids ("GMT+05:00") and "Etc/Unknown" itself.
// - SimpleDateFormat is not safe for concurrent format() calls (it keeps a Calendar it mutates),
//   and building one with a DateTimePatternGenerator took 0.3 ms (3.7 ms the first time in a
//   process) against 1.1 us per format() on the machine this was written on: each thread keeps
//   its own per (locale, zone). LocalizedNumberFormatter is immutable and thread-safe, but is
//   cached per thread as well so no lock is taken.

namespace {

constexpr char kSkeleton[] = "dMMMyHHmm";
constexpr size_t kMaxCachedPerThread = 64;  // (locale, zone) pairs; a node uses one or two

std::string IcuLocaleId(std::string_view lang) {
  if (lang.empty()) {
    return "en_PK";
  }
  if (lang.find_first_of("-_@") != std::string_view::npos) {
    std::string id(lang);
    std::replace(id.begin(), id.end(), '-', '_');
    return id;
  }
  return Lower(lang) + "_PK";
}

bool IsKnownZone(const std::string& tz) {
  UErrorCode status = U_ZERO_ERROR;
  icu::UnicodeString canonical;
  UBool system = false;
  icu::TimeZone::getCanonicalID(icu::UnicodeString::fromUTF8(tz), canonical, system, status);
  return U_SUCCESS(status) && system;
}

std::unique_ptr<icu::SimpleDateFormat> MakeDateFormat(const std::string& locale_id,
                                                      const std::string& tz) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Locale locale(locale_id.c_str());
  std::unique_ptr<icu::DateTimePatternGenerator> generator(
      icu::DateTimePatternGenerator::createInstance(locale, status));
  if (U_FAILURE(status)) {
    return nullptr;
  }
  const icu::UnicodeString pattern = generator->getBestPattern(kSkeleton, status);
  if (U_FAILURE(status)) {
    return nullptr;
  }
  auto format = std::make_unique<icu::SimpleDateFormat>(pattern, locale, status);
  if (U_FAILURE(status)) {
    return nullptr;
  }
  const std::string zone = tz.empty() || !IsKnownZone(tz) ? std::string("Etc/UTC") : tz;
  format->adoptTimeZone(icu::TimeZone::createTimeZone(icu::UnicodeString::fromUTF8(zone)));
  return format;
}

}  // namespace

std::string FormatTime(int64_t unix_ms, const std::string& tz, std::string_view lang) {
  thread_local std::unordered_map<std::string, std::unique_ptr<icu::SimpleDateFormat>> cache;
  const std::string locale_id = IcuLocaleId(lang);
  std::string key = locale_id + '\0' + tz;
  auto it = cache.find(key);
  if (it == cache.end()) {
    if (cache.size() >= kMaxCachedPerThread) {
      cache.clear();
    }
    it = cache.emplace(std::move(key), MakeDateFormat(locale_id, tz)).first;
  }
  if (it->second == nullptr) {
    return FormatUtc(unix_ms);
  }
  icu::UnicodeString out;
  it->second->format(static_cast<UDate>(unix_ms), out);
  return Utf8(out);
}

std::string FormatUtc(int64_t unix_ms) {
  // core's calendar: "2026-12-07T14:09:00Z" -> "2026-12-07 14:09 UTC".
  const std::string iso = core::FormatUtcMs(unix_ms);
  const size_t t = iso.find('T');
  if (t == std::string::npos || iso.size() < t + 6) {
    return iso;
  }
  return iso.substr(0, t) + " " + iso.substr(t + 1, 5) + " UTC";
}

core::UtcOffsetFn ZoneOffset(const std::string& tz) {
  if (tz.empty() || !ValidateTimeZone(tz).ok()) {
    return {};
  }
  return [tz](int64_t utc_ms) -> int64_t {
    // One zone object per thread: ICU's TimeZone is not documented as safe to share.
    thread_local std::unordered_map<std::string, std::unique_ptr<icu::TimeZone>> zones;
    auto it = zones.find(tz);
    if (it == zones.end()) {
      it = zones.emplace(tz, icu::TimeZone::createTimeZone(icu::UnicodeString::fromUTF8(tz)))
               .first;
    }
    int32_t raw = 0;
    int32_t dst = 0;
    UErrorCode status = U_ZERO_ERROR;
    it->second->getOffset(static_cast<UDate>(utc_ms), /*local=*/false, raw, dst, status);
    return U_FAILURE(status) ? 0 : (static_cast<int64_t>(raw) + dst) / 1000;
  };
}

Status ValidateTimeZone(const std::string& tz) {
  if (tz.empty() || IsKnownZone(tz)) {
    return Status::Ok();
  }
  return Status::InvalidArgument(
      "http.time_zone", "'" + tz +
                            "' is not a time zone name of the tz database; give one such as "
                            "Asia/Karachi, or leave it empty for UTC");
}

std::string FormatNumber(int64_t n, std::string_view lang) {
  thread_local std::unordered_map<std::string, icu::number::LocalizedNumberFormatter> cache;
  const std::string id = IcuLocaleId(lang);
  auto it = cache.find(id);
  if (it == cache.end()) {
    if (cache.size() >= kMaxCachedPerThread) {
      cache.clear();
    }
    it = cache.emplace(id, icu::number::NumberFormatter::withLocale(icu::Locale(id.c_str()))).first;
  }
  UErrorCode status = U_ZERO_ERROR;
  const icu::UnicodeString out = it->second.formatInt(n, status).toString(status);
  if (U_FAILURE(status)) {
    return std::to_string(n);
  }
  return Utf8(out);
}

}  // namespace passage::web
