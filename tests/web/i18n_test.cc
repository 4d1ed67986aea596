// services/web/i18n: the .po parser, the Translator, and ICU dates, times and numbers.

#include "services/web/i18n.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "core/codes.h"
#include "passage/v1/common.pb.h"
#include "passage/v1/referral.pb.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace passage::web {
namespace {

using ::testing::HasSubstr;
namespace v1 = passage::v1;

// 2026-12-07 14:09:00 UTC; 19:09 in Asia/Karachi (UTC+5, no daylight saving).
constexpr int64_t kInstant = 1796652540000;

constexpr char kHeader[] =
    "msgid \"\"\n"
    "msgstr \"\"\n"
    "\"Language: ur\\n\"\n"
    "\"Content-Type: text/plain; charset=UTF-8\\n\"\n\n";

Catalog MustParse(const std::string& text) {
  auto c = Catalog::Parse(text, "test.po");
  EXPECT_OK(c);
  return c.ok() ? std::move(c).value() : Catalog();
}

std::multiset<std::string> Placeholders(const std::string& text) {
  static const std::regex kPlaceholder(R"(\{\d{1,3}\})");
  std::multiset<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kPlaceholder);
       it != std::sregex_iterator(); ++it) {
    out.insert(it->str());
  }
  return out;
}

const Translator& Builtin() {
  static const std::unique_ptr<Translator> t = [] {
    auto r = Translator::Builtin();
    EXPECT_OK(r);
    return r.ok() ? std::move(r).value() : nullptr;
  }();
  return *t;
}

// ---- parsing ----

TEST(Catalog, JoinsStringsContinuedOverLines) {
  Catalog c = MustParse(std::string(kHeader) +
                        "msgid \"\"\n"
                        "\"first half, \"\n"
                        "   \"second half\"\n"
                        "msgstr \"\"\n"
                        "\"پہلا حصہ، \"\n"
                        "\"دوسرا حصہ\"\n");
  ASSERT_NE(c.Find("first half, second half"), nullptr);
  EXPECT_EQ(*c.Find("first half, second half"), "پہلا حصہ، دوسرا حصہ");
  EXPECT_EQ(c.language(), "ur");
  ASSERT_EQ(c.messages().size(), 1u);  // the header is not a message
  EXPECT_EQ(c.messages()[0].line, 6);
}

TEST(Catalog, DecodesEscapes) {
  // As the file has it: msgid "a\tb\n\"q\" \\ end".
  const std::string po = R"(msgid "a\tb\n\"q\" \\ end"
msgstr "x\ty\n\"z\" \\ آخر"
)";
  Catalog c = MustParse(kHeader + po);
  const std::string* s = c.Find("a\tb\n\"q\" \\ end");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(*s, "x\ty\n\"z\" \\ آخر");
}

TEST(Catalog, ContextSeparatesTheSameWord) {
  Catalog c = MustParse(std::string(kHeader) +
                        "msgctxt \"verb\"\nmsgid \"Record\"\nmsgstr \"درج کریں\"\n\n"
                        "msgctxt \"noun\"\nmsgid \"Record\"\nmsgstr \"ریکارڈ\"\n\n"
                        "msgid \"Record\"\nmsgstr \"اندراج\"\n");
  ASSERT_NE(c.Find("Record", "verb"), nullptr);
  EXPECT_EQ(*c.Find("Record", "verb"), "درج کریں");
  EXPECT_EQ(*c.Find("Record", "noun"), "ریکارڈ");
  EXPECT_EQ(*c.Find("Record"), "اندراج");
  EXPECT_EQ(c.Find("Record", "adjective"), nullptr);
  EXPECT_EQ(c.messages()[1].context, "noun");
}

TEST(Catalog, SkipsFuzzyAndUntranslatedEntries) {
  Catalog c = MustParse(std::string(kHeader) +
                        "#. a note for translators\n"
                        "#: services/web/web_server.cc:42\n"
                        "#, fuzzy, c-format\n"
                        "msgid \"Inbox\"\nmsgstr \"ان باکس\"\n\n"
                        "msgid \"Sign out\"\nmsgstr \"\"\n\n"
                        "#, c-format\n"
                        "msgid \"Case\"\nmsgstr \"کیس\"\n\n"
                        "#~ msgid \"Old text\"\n#~ msgstr \"پرانا\"\n");
  EXPECT_EQ(c.Find("Inbox"), nullptr);     // fuzzy
  EXPECT_EQ(c.Find("Sign out"), nullptr);  // untranslated
  EXPECT_EQ(c.Find("Old text"), nullptr);  // obsolete
  ASSERT_NE(c.Find("Case"), nullptr);      // the fuzzy flag was only the first entry's
  ASSERT_EQ(c.messages().size(), 3u);
  EXPECT_TRUE(c.messages()[0].fuzzy);
  EXPECT_FALSE(c.messages()[2].fuzzy);
}

TEST(Catalog, ReadsCrlfAndByteOrderMark) {
  Catalog c = MustParse(
      "\xEF\xBB\xBFmsgid \"\"\r\nmsgstr \"Language: ur_PK\\n\"\r\n\r\n"
      "msgid \"Inbox\"\r\nmsgstr \"ان باکس\"\r\n");
  EXPECT_EQ(c.language(), "ur_PK");
  ASSERT_NE(c.Find("Inbox"), nullptr);
  EXPECT_EQ(*c.Find("Inbox"), "ان باکس");
}

TEST(Catalog, RefusesBadSyntaxNamingFileAndLine) {
  struct Case {
    std::string text;
    int line;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"msgid \"a\"\nmsgstr \"b\n", 2, "no closing double quote"},
      {"msgid \"a\"\nmsgstr \"b\\x\"\n", 2, "unknown escape \\x"},
      {"msgid \"a\"\nmsgstr \"b\" c\n", 2, "after the closing double quote"},
      {"\n\nmsgstr \"b\"\n", 3, "msgstr without a msgid"},
      {"msgid \"a\"\nmsgid \"b\"\nmsgstr \"c\"\n", 2, "line 1 has no msgstr"},
      {"msgid \"a\"\nmsgid_plural \"as\"\nmsgstr[0] \"b\"\n", 2, "plural forms"},
      {"msgid \"a\"\nmsgstr \"b\"\n\nmsgid \"a\"\nmsgstr \"c\"\n", 4,
       "listed twice (first at line 1)"},
      {"\"stray\"\n", 1, "outside an entry"},
      {"msgid \"a\"\nmsgstr \"b\"\nmsgfoo \"c\"\n", 3, "expected msgctxt"},
      {"msgid \"a\"\n# note\nmsgstr \"b\"\n", 2, "comment inside an entry"},
      {"msgid \"a\"\n", 1, "ends inside an entry"},
      {"msgid \"\"\nmsgstr \"Content-Type: text/plain; charset=ISO-8859-1\\n\"\n", 1, "UTF-8 only"},
      {"msgid \"\"\nmsgstr \"\"\n\nmsgid \"\"\nmsgstr \"\"\n", 4, "second header"},
      {"msgid a\nmsgstr \"b\"\n", 1, "double quotes"},
  };
  for (const Case& c : cases) {
    auto r = Catalog::Parse(c.text, "services/web/po/xx.po");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().field(), "services/web/po/xx.po");
    EXPECT_THAT(r.status().message(), HasSubstr("line " + std::to_string(c.line) + ": ")) << c.text;
    EXPECT_THAT(r.status().message(), HasSubstr(c.why)) << c.text;
  }
}

TEST(Catalog, LoadsAFileAndNamesAMissingOne) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/ur.po";
  std::ofstream(path) << kHeader << "msgid \"Inbox\"\nmsgstr \"ان باکس\"\n";
  auto c = Catalog::Load(path);
  ASSERT_OK(c);
  EXPECT_EQ(*c->Find("Inbox"), "ان باکس");

  std::ofstream(path) << kHeader << "msgid \"Inbox\"\n";
  auto bad = Catalog::Load(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().ToString(),
            "invalid argument: " + path + ": line 6: the file ends inside an entry (no msgstr)");

  auto missing = Catalog::Load(dir.path() + "/none.po");
  EXPECT_EQ(missing.status().code(), StatusCode::kIoError);
  EXPECT_THAT(missing.status().message(), HasSubstr("none.po"));
}

// ---- Translator ----

std::unique_ptr<Translator> Make(const std::string& po) {
  std::vector<Catalog> catalogs;
  catalogs.push_back(MustParse(po));
  auto t = Translator::Create(std::move(catalogs));
  EXPECT_OK(t);
  return t.ok() ? std::move(t).value() : nullptr;
}

TEST(Translator, OffersEnglishAndUrdu) {
  const Translator& t = Builtin();
  ASSERT_EQ(t.languages().size(), 2u);
  EXPECT_EQ(t.languages()[0].code, "en");
  EXPECT_EQ(t.languages()[0].name, "English");
  EXPECT_FALSE(t.languages()[0].rtl);
  EXPECT_EQ(t.languages()[1].code, "ur");
  EXPECT_EQ(t.languages()[1].name, "اردو");
  EXPECT_TRUE(t.languages()[1].rtl);
  EXPECT_EQ(t.Find("ur-PK").code, "ur");
  EXPECT_EQ(t.Find("UR_pk").code, "ur");
  EXPECT_EQ(t.Find("fr").code, "en");
  EXPECT_EQ(t.Find("").code, "en");
}

TEST(Translator, FallsBackToTheMsgid) {
  const Translator& t = Builtin();
  EXPECT_EQ(t.T("ur", "Inbox"), "ان باکس");
  EXPECT_EQ(t.T("ur_PK", "Inbox"), "ان باکس");
  EXPECT_EQ(t.T("en", "Inbox"), "Inbox");
  EXPECT_EQ(t.T("fr", "Inbox"), "Inbox");
  EXPECT_EQ(t.T("ur", "a text nobody translated"), "a text nobody translated");
  EXPECT_EQ(t.TContext("ur", "no such context", "Inbox"), "Inbox");
}

TEST(Translator, FallbackReferencesOutliveTheArgument) {
  const Translator& t = Builtin();
  const std::string* first;
  {
    std::string msgid = "built at run time";
    first = &t.T("ur", msgid);
    msgid.assign(msgid.size(), 'x');  // the argument changes and goes away
  }
  for (int i = 0; i < 1000; ++i) {
    (void)t.T("en", "filler " + std::to_string(i));
  }
  EXPECT_EQ(*first, "built at run time");
  EXPECT_EQ(&t.T("en", "built at run time"), first);  // kept once
}

TEST(Translator, EmptyMsgstrAndFuzzyShowEnglish) {
  auto t = Make(std::string(kHeader) + "msgid \"Sign out\"\nmsgstr \"\"\n\n" +
                "#, fuzzy\nmsgid \"Inbox\"\nmsgstr \"ان باکس\"\n");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->T("ur", "Sign out"), "Sign out");
  EXPECT_EQ(t->T("ur", "Inbox"), "Inbox");
}

TEST(Translator, FormatLetsTranslationsReorderPlaceholders) {
  auto t = Make(std::string(kHeader) + "msgid \"{0} of {1} referrals\"\n" +
                "msgstr \"{1} میں سے {0} ریفرل\"\n");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Format("en", "{0} of {1} referrals", {"3", "50"}), "3 of 50 referrals");
  EXPECT_EQ(t->Format("ur", "{0} of {1} referrals", {"3", "50"}), "50 میں سے 3 ریفرل");
  // A placeholder without an argument stays visible; braces that are not placeholders stay.
  EXPECT_EQ(t->Format("en", "{0} and {1} {x} {} {12345}", {"a"}), "a and {1} {x} {} {12345}");
  // Arguments are not scanned again.
  EXPECT_EQ(t->Format("en", "{0}{1}", {"{1}", "b"}), "{1}b");
  const std::string login = "ali";
  EXPECT_EQ(Builtin().Format("ur", "Signed in as {0} ({1})", {login, std::to_string(2)}),
            "ali (2) کے طور پر سائن ان");
}

TEST(Translator, FormatHtmlEscapesTheTextNotTheArguments) {
  auto t = Make(std::string(kHeader) + "msgid \"<{0}> & {1}\"\nmsgstr \"{1} & <{0}>\"\n");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->FormatHtml("ur", "<{0}> & {1}", {"<bdi>a</bdi>", "b"}),
            "b &amp; &lt;<bdi>a</bdi>&gt;");
}

TEST(Translator, RefusesCatalogsWithoutOrWithTheSameLanguage) {
  std::vector<Catalog> none;
  none.push_back(MustParse("msgid \"a\"\nmsgstr \"b\"\n"));
  EXPECT_FALSE(Translator::Create(std::move(none)).ok());
  std::vector<Catalog> twice;
  twice.push_back(MustParse(kHeader));
  twice.push_back(MustParse(std::string(kHeader)));
  auto r = Translator::Create(std::move(twice));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("two catalogs for the language ur"));
}

// ---- the Urdu catalog ----

TEST(UrduCatalog, TheBinaryEmbedsTheFileInTheRepository) {
  auto on_disk = Catalog::Load(std::string(PASSAGE_SOURCE_DIR) + "/services/web/po/ur.po");
  ASSERT_OK(on_disk);
  for (const Catalog::Message& m : on_disk->messages()) {
    EXPECT_EQ(Builtin().T("ur", m.id), m.str) << m.id;
  }
}

TEST(UrduCatalog, TranslatesEveryTemplateMessageWithItsPlaceholders) {
  auto pot = Catalog::Load(std::string(PASSAGE_SOURCE_DIR) + "/services/web/po/passage.pot");
  auto ur = Catalog::Load(std::string(PASSAGE_SOURCE_DIR) + "/services/web/po/ur.po");
  ASSERT_OK(pot);
  ASSERT_OK(ur);
  EXPECT_GT(pot->messages().size(), 150u);
  for (const Catalog::Message& m : pot->messages()) {
    EXPECT_TRUE(m.str.empty()) << "the template translates " << m.id;
    const std::string* s = ur->Find(m.id, m.context);
    if (s == nullptr) {
      ADD_FAILURE() << "ur.po lacks a translation of \"" << m.id << "\"";
      continue;
    }
    EXPECT_EQ(Placeholders(*s), Placeholders(m.id)) << m.id << " -> " << *s;
  }
  for (const Catalog::Message& m : ur->messages()) {
    EXPECT_EQ(Placeholders(m.str), Placeholders(m.id)) << m.id << " -> " << m.str;
    bool in_template = false;
    for (const Catalog::Message& p : pot->messages()) {
      in_template = in_template || (p.id == m.id && p.context == m.context);
    }
    EXPECT_TRUE(in_template) << "\"" << m.id << "\" is in ur.po but not in passage.pot";
  }
}

// The words web_server.cc's Label() makes of enum values ("FORCED_LABOUR" -> "forced labour"):
// a value added to an enum the workspace shows must reach the catalog too.
TEST(UrduCatalog, TranslatesEveryEnumWordTheWorkspaceShows) {
  const google::protobuf::EnumDescriptor* shown[] = {v1::CrimeType_descriptor(),
                                                     v1::Sex_descriptor(),
                                                     v1::IdentificationChannel_descriptor(),
                                                     v1::ExploitationForm_descriptor(),
                                                     v1::LabourSector_descriptor(),
                                                     v1::MeansOfControl_descriptor(),
                                                     v1::RecruiterRelation_descriptor(),
                                                     v1::ConsentScope_descriptor(),
                                                     v1::Priority_descriptor(),
                                                     v1::ServiceType_descriptor(),
                                                     v1::ReferralStatus_descriptor(),
                                                     v1::OffenceStatus_descriptor(),
                                                     v1::AccusedStatus_descriptor(),
                                                     v1::SuspectRole_descriptor(),
                                                     v1::DocumentKind_descriptor(),
                                                     v1::PlanItemStatus_descriptor()};
  int words = 0;
  for (const auto* type : shown) {
    for (int i = 0; i < type->value_count(); ++i) {
      const int value = type->value(i)->number();
      if (value == 0 ||
          (type == v1::CrimeType_descriptor() && value != v1::CRIME_TYPE_UNDETERMINED)) {
        continue;  // UNSPECIFIED is never shown; TIP, SOM, BOTH have sentences of their own
      }
      std::string word = core::ShortEnumName(type, value);
      for (char& c : word) {
        c = c == '_' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      EXPECT_NE(Builtin().T("ur", word), word) << type->name() << ": \"" << word << "\"";
      ++words;
    }
  }
  EXPECT_GE(words, 120);  // as of this writing: 1 + 4 + 8 + 10 + 13 + 17 + 5 + 6 + 3 + 11 + 11
                          // + 5 + 7 + 8 + 8 + 3
}

// ---- dates, times, numbers ----

TEST(FormatTime, ShowsKarachiTimeInEachLanguage) {
  const std::string en = FormatTime(kInstant, "Asia/Karachi", "en");
  const std::string ur = FormatTime(kInstant, "Asia/Karachi", "ur");
  EXPECT_EQ(en, "7 Dec 2026, 19:09");  // 14:09 UTC + 5 h, day before month
  EXPECT_THAT(ur, HasSubstr("19:09"));
  EXPECT_THAT(ur, HasSubstr("دسمبر"));  // December
  EXPECT_THAT(ur, HasSubstr("2026"));   // ur_PK writes Latin digits
  EXPECT_NE(en, ur);
  EXPECT_EQ(FormatTime(kInstant, "", "en"), "7 Dec 2026, 14:09");
  EXPECT_EQ(FormatTime(kInstant, "Etc/UTC", "en_GB"), "7 Dec 2026, 14:09");
  // 23:30 UTC is already the next day in Karachi.
  EXPECT_EQ(FormatTime(1796686200000, "Asia/Karachi", "en"), "8 Dec 2026, 04:30");
}

TEST(FormatTime, FormatsAnUnknownZoneAsUtc) {
  EXPECT_EQ(FormatTime(kInstant, "Asia/Karchi", "en"), "7 Dec 2026, 14:09");
}

TEST(FormatUtc, IsIsoLikeAndTheSameInEveryLanguage) {
  EXPECT_EQ(FormatUtc(kInstant), "2026-12-07 14:09 UTC");
  EXPECT_EQ(FormatUtc(kInstant + 59'999), "2026-12-07 14:09 UTC");
  EXPECT_EQ(FormatUtc(0), "1970-01-01 00:00 UTC");
  EXPECT_EQ(FormatUtc(-1), "1969-12-31 23:59 UTC");
}

TEST(ValidateTimeZone, AcceptsTzDatabaseNamesOnly) {
  EXPECT_OK(ValidateTimeZone(""));
  EXPECT_OK(ValidateTimeZone("Asia/Karachi"));
  EXPECT_OK(ValidateTimeZone("UTC"));
  EXPECT_OK(ValidateTimeZone("Europe/London"));
  for (const char* bad : {"Asia/Karchi", "asia/karachi", "PKT", "Etc/Unknown", "GMT+05:00", " "}) {
    const Status s = ValidateTimeZone(bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.field(), "http.time_zone") << bad;
    EXPECT_THAT(s.message(), HasSubstr(bad));
  }
}

TEST(ZoneOffset, GivesEachInstantsOffsetFromTheTzDatabase) {
  const int64_t winter = 1'765'375'200'000;  // 2025-12-10T14:00:00Z
  const int64_t summer = 1'750'000'000'000;  // 2025-06-15T15:06:40Z
  auto karachi = ZoneOffset("Asia/Karachi");
  ASSERT_TRUE(karachi);
  EXPECT_EQ(karachi(winter), 5 * 3600);
  EXPECT_EQ(karachi(summer), 5 * 3600);
  auto london = ZoneOffset("Europe/London");  // daylight saving in summer
  ASSERT_TRUE(london);
  EXPECT_EQ(london(winter), 0);
  EXPECT_EQ(london(summer), 3600);
  EXPECT_FALSE(ZoneOffset(""));
  EXPECT_FALSE(ZoneOffset("Asia/Karchi"));
}

TEST(FormatNumber, GroupsDigitsAsInPakistan) {
  EXPECT_EQ(FormatNumber(1234567, "en"), "1,234,567");
  EXPECT_EQ(FormatNumber(1234567, "ur"), "1,234,567");    // ur_PK: Latin digits (see i18n.cc)
  EXPECT_EQ(FormatNumber(-42, "ur"), "\xE2\x80\x8E-42");  // LEFT-TO-RIGHT MARK, then -42
  EXPECT_EQ(FormatNumber(0, "en"), "0");
  EXPECT_EQ(FormatNumber(1234567, "ur_IN"), "۱٬۲۳۴٬۵۶۷");  // India's Urdu: Eastern digits
}

// Many threads formatting and translating at once get what one thread gets (run under
// PASSAGE_TSAN for the data-race check).
TEST(I18nThreads, ManyThreadsFormatAndTranslate) {
  const Translator& t = Builtin();
  struct Expected {
    std::string time_en, time_ur, time_utc, number_ur, text;
  } want{FormatTime(kInstant, "Asia/Karachi", "en"), FormatTime(kInstant, "Asia/Karachi", "ur"),
         FormatTime(kInstant, "", "ur"), FormatNumber(987654, "ur"),
         t.Format("ur", "Referral for {0}: {1}", {t.T("ur", "shelter"), t.T("ur", "sent")})};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int n = 0; n < 8; ++n) {
    threads.emplace_back([&, n] {
      for (int i = 0; i < 300; ++i) {
        wrong += FormatTime(kInstant, "Asia/Karachi", "en") != want.time_en;
        wrong += FormatTime(kInstant, "Asia/Karachi", "ur") != want.time_ur;
        wrong += FormatTime(kInstant, "", "ur") != want.time_utc;
        wrong += FormatNumber(987654, "ur") != want.number_ur;
        wrong += t.Format("ur", "Referral for {0}: {1}",
                          {t.T("ur", "shelter"), t.T("ur", "sent")}) != want.text;
        const std::string own = "thread " + std::to_string(n) + " text " + std::to_string(i % 20);
        wrong += t.T("ur", own) != own;
      }
    });
  }
  for (std::thread& th : threads) {
    th.join();
  }
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace passage::web
