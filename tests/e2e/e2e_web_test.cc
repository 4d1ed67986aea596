// The web workspace over HTTP against the real processes: a shelter's case worker signs in, finds
// the router's referral in the inbox, accepts it (a form without its CSRF token is refused and
// changes nothing) and opens the granted personal data, which comes back HTML-escaped, with the
// security headers on every page.

#include <gtest/gtest.h>
#include <httplib.h>

#include <regex>

#include "core/codes.h"
#include "tests/e2e/nrm_harness.h"

namespace passage::e2e {
namespace {

// The value of cookie `name` set by `res`, "" when it sets none.
std::string SetCookie(const httplib::Result& res, const std::string& name) {
  for (const auto& [k, v] : res->headers) {
    if (k == "Set-Cookie" && v.rfind(name + "=", 0) == 0) {
      return v.substr(name.size() + 1, v.find(';') - name.size() - 1);
    }
  }
  return "";
}

std::string Hidden(const std::string& html, const std::string& name) {
  std::smatch m;
  std::regex re("name=\"" + name + "\" value=\"([^\"]*)\"");
  return std::regex_search(html, m, re) ? m[1].str() : "";
}

TEST(E2eWeb, CaseWorkerSignsInAcceptsAReferralAndOpensTheGrantedPersonalData) {
  NrmOptions o;
  o.http = true;
  Nrm nrm({FirstResponder("fia-karachi"),
           Protection("shelter-a", v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER}, 0,
                      /*auto_accept=*/false)},
          WomenToShelterRules(), o);
  ASSERT_TRUE(nrm.Start());
  // Hostile text in every personal field: it must come back as text.
  v1::IntakeRequest in = AdultWomanSexuallyExploited();
  in.mutable_personal()->set_given_name("<script>alert(1)</script>");
  in.mutable_personal()->set_family_name("\"><img src=x onerror=alert(2)>");
  in.mutable_personal()->set_narrative(
      "\xE2\x80\xAE"
      "txt.exe");  // U+202E, right-to-left override
  auto c = nrm.Intake("fia-karachi", in);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::string referral;
  ASSERT_TRUE(nrm.WaitReceived(*c, "shelter-a", &referral));
  ASSERT_TRUE(nrm.DeskSession("shelter-a").ok());  // makes the desk account (case worker and more)

  const int port = nrm.HttpPort("shelter-a");
  ASSERT_GT(port, 0);
  httplib::Client web("127.0.0.1", port);
  web.set_follow_location(false);

  // Not signed in: to the sign-in page.
  auto home = web.Get("/");
  ASSERT_TRUE(home);
  EXPECT_EQ(home->status, 303);
  EXPECT_EQ(home->get_header_value("Location"), "/login");

  auto form = web.Get("/login");
  ASSERT_TRUE(form);
  ASSERT_EQ(form->status, 200);
  const std::string pre = SetCookie(form, "psg_pre");
  ASSERT_FALSE(pre.empty());
  EXPECT_EQ(Hidden(form->body, "pre"), pre);
  const httplib::Headers pre_cookie = {{"Cookie", "psg_pre=" + pre}};

  // A wrong password: the page says so, no session.
  auto wrong = web.Post(
      "/login", pre_cookie,
      httplib::Params{{"pre", pre}, {"login", "e2e.desk"}, {"password", "nope-nope-nope"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_NE(wrong->body.find("not accepted"), std::string::npos);
  EXPECT_TRUE(SetCookie(wrong, "psg_session").empty());
  // A sign-in post without the form's token (a cross-site post) is refused.
  auto forged =
      web.Post("/login", httplib::Params{{"login", "e2e.desk"}, {"password", Nrm::kDeskPassword}});
  ASSERT_TRUE(forged);
  EXPECT_TRUE(SetCookie(forged, "psg_session").empty());

  auto signed_in = web.Post(
      "/login", pre_cookie,
      httplib::Params{{"pre", pre}, {"login", "e2e.desk"}, {"password", Nrm::kDeskPassword}});
  ASSERT_TRUE(signed_in);
  ASSERT_EQ(signed_in->status, 303) << signed_in->body;
  const std::string session = SetCookie(signed_in, "psg_session");
  ASSERT_FALSE(session.empty());
  bool http_only = false;
  for (const auto& [k, v] : signed_in->headers) {
    if (k == "Set-Cookie" && v.rfind("psg_session=", 0) == 0) {
      http_only =
          v.find("HttpOnly") != std::string::npos && v.find("SameSite=Strict") != std::string::npos;
    }
  }
  EXPECT_TRUE(http_only);
  const httplib::Headers me = {{"Cookie", "psg_session=" + session}};

  // The inbox lists the referral, with the security headers, small.
  auto inbox = web.Get("/", me);
  ASSERT_TRUE(inbox);
  ASSERT_EQ(inbox->status, 200);
  EXPECT_NE(inbox->body.find("/cases/" + *c), std::string::npos) << inbox->body;
  // The notice on every page: one referral to answer, due within the hour.
  EXPECT_NE(inbox->body.find("1 to answer, 1 due within a day"), std::string::npos) << inbox->body;
  EXPECT_NE(inbox->get_header_value("Content-Security-Policy").find("default-src 'none'"),
            std::string::npos);
  EXPECT_EQ(inbox->get_header_value("X-Frame-Options"), "DENY");
  EXPECT_EQ(inbox->get_header_value("Cache-Control"), "no-store");
  EXPECT_LT(inbox->body.size(), 100u * 1024);
  EXPECT_EQ(inbox->body.find("<script"), std::string::npos);

  auto page = web.Get("/cases/" + *c, me);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->status, 200);
  const std::string csrf = Hidden(page->body, "csrf");
  ASSERT_FALSE(csrf.empty());

  // Accept without the CSRF token: refused, nothing recorded.
  auto no_token =
      web.Post("/referrals/" + referral, me, httplib::Params{{"action", "accept"}, {"case", *c}});
  ASSERT_TRUE(no_token);
  EXPECT_EQ(no_token->status, 403);
  ASSERT_TRUE(nrm.Settle(500));
  auto still = nrm.Inbox("shelter-a");
  ASSERT_EQ(still.size(), 1u);
  EXPECT_EQ(still[0].status(), v1::REFERRAL_STATUS_RECEIVED);

  auto accepted = web.Post("/referrals/" + referral, me,
                           httplib::Params{{"csrf", csrf}, {"action", "accept"}, {"case", *c}});
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->status, 303) << accepted->body;
  auto now = nrm.Inbox("shelter-a");
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].status(), v1::REFERRAL_STATUS_ACCEPTED);

  // Open the personal data: escaped, recorded, not cached.
  auto personal = web.Post("/cases/" + *c + "/personal", me,
                           httplib::Params{{"csrf", csrf}, {"purpose", "admission"}});
  ASSERT_TRUE(personal);
  ASSERT_EQ(personal->status, 200) << personal->body;
  EXPECT_NE(personal->body.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_EQ(personal->body.find("<script>"), std::string::npos);
  EXPECT_EQ(personal->body.find("<img"), std::string::npos);
  EXPECT_NE(personal->body.find("<bdi>\xE2\x80\xAE"),
            std::string::npos);  // isolated, not reordering the page
  EXPECT_EQ(personal->get_header_value("Cache-Control"), "no-store");

  // The service plan of the accepted referral (docs/case-work.md): planned from the case page,
  // listed on the inbox while due, marked done with the item's own form.
  auto with_plan = web.Get("/cases/" + *c, me);
  ASSERT_TRUE(with_plan);
  EXPECT_NE(with_plan->body.find("Plan a service"), std::string::npos) << with_plan->body;
  const std::string yesterday = core::FormatUtcMs(NowMs() - 86'400'000).substr(0, 10);
  auto bad_date = web.Post("/cases/" + *c + "/plan", me,
                           httplib::Params{{"csrf", csrf}, {"step", "add"}, {"referral", referral},
                                           {"service", "SERVICE_TYPE_MEDICAL"},
                                           {"due", "2026-02-30"}});
  ASSERT_TRUE(bad_date);
  EXPECT_EQ(bad_date->status, 400) << bad_date->body;
  EXPECT_NE(bad_date->body.find("service_planned.item.due_date"), std::string::npos)
      << bad_date->body;
  auto planned = web.Post("/cases/" + *c + "/plan", me,
                          httplib::Params{{"csrf", csrf}, {"step", "add"}, {"referral", referral},
                                          {"service", "SERVICE_TYPE_MEDICAL"}, {"due", yesterday},
                                          {"note", "MED-CHECK"}});
  ASSERT_TRUE(planned);
  EXPECT_EQ(planned->status, 303) << planned->body;
  auto due_inbox = web.Get("/", me);
  ASSERT_TRUE(due_inbox);
  EXPECT_NE(due_inbox->body.find("Due and overdue"), std::string::npos) << due_inbox->body;
  EXPECT_NE(due_inbox->body.find(yesterday + " (overdue)"), std::string::npos) << due_inbox->body;
  auto case_page = web.Get("/cases/" + *c, me);
  ASSERT_TRUE(case_page);
  const std::string needle = "name=\"item\" value=\"";
  const size_t item_at = case_page->body.find(needle);
  ASSERT_NE(item_at, std::string::npos) << case_page->body;
  const std::string item = case_page->body.substr(item_at + needle.size(), 36);
  auto marked = web.Post("/cases/" + *c + "/plan", me,
                         httplib::Params{{"csrf", csrf}, {"step", "done"}, {"item", item}});
  ASSERT_TRUE(marked);
  EXPECT_EQ(marked->status, 303) << marked->body;
  auto after_done = web.Get("/", me);
  ASSERT_TRUE(after_done);
  EXPECT_EQ(after_done->body.find("Due and overdue"), std::string::npos) << after_done->body;

  // Another case id, or a path that is no page: a clear 404, the node keeps serving.
  auto unknown = web.Get("/cases/" + core::NewUuidV7(), me);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  auto traversal = web.Get("/static/../../etc/passwd", me);
  ASSERT_TRUE(traversal);
  EXPECT_EQ(traversal->status, 404);

  // Sign out: the session ends on the node too.
  auto out = web.Post("/logout", me, httplib::Params{{"csrf", csrf}});
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, 303);
  auto after = web.Get("/", me);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 303);
  EXPECT_EQ(after->get_header_value("Location"), "/login");
}

// The pages beyond the inbox: hostile agency names stay text everywhere (and cannot start a
// formula in a CSV), the dashboard and its CSV are for those who oversee, the auditor's check
// verifies the log against the node's saved head, a name search never puts the name in a URL,
// the language is the account's, and every new form refuses a post without its token.
TEST(E2eWeb, DashboardAuditSearchLanguageAndHostileNames) {
  NrmOptions o;
  o.http = true;
  AgencySpec fia = FirstResponder("fia-karachi");
  fia.name = "<img src=x onerror=alert(3)>\xE2\x80\xAE FIA";
  AgencySpec shelter = Protection("shelter-a", v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER},
                                  0, /*auto_accept=*/false);
  shelter.name = "=HYPERLINK(\"http://x\")";
  Nrm nrm({fia, shelter}, WomenToShelterRules(), o);
  ASSERT_TRUE(nrm.Start());
  v1::IntakeRequest in = AdultWomanSexuallyExploited();
  in.mutable_personal()->set_given_name("Rukhsana");
  in.mutable_personal()->set_date_of_birth(DobForAge(24));
  auto c = nrm.Intake("fia-karachi", in);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE(nrm.WaitReceived(*c, "shelter-a"));
  auto token = nrm.DeskSession("shelter-a");
  ASSERT_TRUE(token.ok());
  httplib::Client web("127.0.0.1", nrm.HttpPort("shelter-a"));
  web.set_follow_location(false);
  const httplib::Headers me = {{"Cookie", "psg_session=" + *token}};

  auto clean = [](const std::string& body) {
    return body.find("<img") == std::string::npos && body.find("<script") == std::string::npos;
  };
  for (const std::string& path :
       std::vector<std::string>{"/", "/cases/" + *c, "/dashboard", "/audit", "/search"}) {
    auto r = web.Get(path, me);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path << ": " << r->body.substr(0, 400);
    EXPECT_TRUE(clean(r->body)) << path;
    EXPECT_EQ(r->get_header_value("Cache-Control"), "no-store") << path;
  }
  auto inbox = web.Get("/", me);
  EXPECT_NE(inbox->body.find("&lt;img src=x onerror=alert(3)&gt;"), std::string::npos);
  const std::string csrf = Hidden(inbox->body, "csrf");
  ASSERT_FALSE(csrf.empty());

  // The CSV: a name that would be a formula is quoted and prefixed.
  auto csv = web.Get("/dashboard/referrals.csv", me);
  ASSERT_TRUE(csv);
  ASSERT_EQ(csv->status, 200);
  EXPECT_EQ(csv->get_header_value("Content-Type").rfind("text/csv", 0), 0u);
  EXPECT_EQ(csv->body.rfind("\xEF\xBB\xBF\"agency\",\"service\",\"pending\"", 0), 0u) << csv->body;
  EXPECT_NE(csv->body.find("\"'=HYPERLINK(\"\"http://x\"\")\""), std::string::npos) << csv->body;
  auto stats_csv = web.Get("/dashboard/sex_age_band.csv", me);
  ASSERT_TRUE(stats_csv);
  EXPECT_EQ(stats_csv->status, 200);
  EXPECT_NE(stats_csv->body.find("\"total\",\"\",\"<5\""), std::string::npos)
      << "one case: the total reads <5 and no cell is listed: " << stats_csv->body;
  EXPECT_EQ(stats_csv->body.find("FEMALE"), std::string::npos) << stats_csv->body;
  auto no_table = web.Get("/dashboard/passwords.csv", me);
  ASSERT_TRUE(no_table);
  EXPECT_EQ(no_table->status, 404);

  // The state's reports: the same text and CSV as passagectl report, the year checked.
  auto glotip = web.Get("/reports?kind=glotip&year=2026", me);
  ASSERT_TRUE(glotip);
  EXPECT_EQ(glotip->status, 200) << glotip->body.substr(0, 400);
  EXPECT_NE(glotip->body.find("Offences recorded by law section and crime type, 2026"),
            std::string::npos);
  EXPECT_NE(glotip->body.find("Victims detected by form of exploitation and sex, 2026"),
            std::string::npos);
  v1::ControlRequest same;
  same.set_session_token(*token);
  same.mutable_crime_report()->set_kind(v1::CrimeReportRequest::KIND_QUALITY);
  auto quality_ctl = nrm.CallRaw("shelter-a", same);
  ASSERT_TRUE(quality_ctl.ok() && quality_ctl->code() == v1::CONTROL_CODE_OK);
  auto quality = web.Get("/reports?kind=quality", me);
  ASSERT_TRUE(quality);
  EXPECT_NE(quality->body.find("Records missing each required disaggregation"),
            std::string::npos);
  EXPECT_NE(quality_ctl->text().find("victims"), std::string::npos) << quality_ctl->text();
  auto report_csv = web.Get("/reports.csv?kind=smuggling&year=2026", me);
  ASSERT_TRUE(report_csv);
  EXPECT_EQ(report_csv->status, 200);
  EXPECT_EQ(report_csv->body.rfind("sheet,row,column,count,flag\n", 0), 0u) << report_csv->body;
  // SDG 16.2.2: the population is posted (never in a URL), a malformed table named by line.
  auto sdg_form = web.Get("/reports?kind=sdg16&year=2026", me);
  ASSERT_TRUE(sdg_form);
  EXPECT_EQ(sdg_form->status, 200);
  EXPECT_NE(sdg_form->body.find("<textarea name=\"population\""), std::string::npos);
  const std::string report_csrf = Hidden(sdg_form->body, "csrf");
  auto sdg = web.Post("/reports", me,
                      httplib::Params{{"csrf", report_csrf}, {"kind", "sdg16"}, {"year", "2026"},
                                      {"format", "text"},
                                      {"population", "FEMALE,ADULT,2000000\nMALE,ADULT,2000000\n"}});
  ASSERT_TRUE(sdg);
  EXPECT_EQ(sdg->status, 200) << sdg->body.substr(0, 600);
  EXPECT_NE(sdg->body.find("SDG 16.2.2: victims detected per 100,000 population"),
            std::string::npos);
  auto bad_pop = web.Post("/reports", me,
                          httplib::Params{{"csrf", report_csrf}, {"kind", "sdg16"},
                                          {"year", "2026"}, {"population", "WOMAN,ADULT,5\n"}});
  ASSERT_TRUE(bad_pop);
  EXPECT_EQ(bad_pop->status, 400);
  EXPECT_NE(bad_pop->body.find("population line 1"), std::string::npos);
  auto unsigned_post = web.Post("/reports", me, httplib::Params{{"kind", "sdg16"}});
  ASSERT_TRUE(unsigned_post);
  EXPECT_EQ(unsigned_post->status, 403);
  auto bad_year = web.Get("/reports?kind=glotip&year=20x6", me);
  ASSERT_TRUE(bad_year);
  EXPECT_EQ(bad_year->status, 400);
  EXPECT_NE(bad_year->body.find("Give a year from 1990 to 2100"), std::string::npos);

  // A case worker does not oversee: the node refuses the dashboard.
  {
    auto admin = nrm.SignIn("shelter-a", "admin", Nrm::kAdminPassword);
    ASSERT_TRUE(admin.ok());
    v1::ControlRequest add;
    add.set_session_token(*admin);
    add.mutable_staff()->set_op(v1::StaffRequest::OP_ADD);
    add.mutable_staff()->set_login("cw.only");
    add.mutable_staff()->set_password("case-worker-only-1");
    add.mutable_staff()->set_permanent(true);
    add.mutable_staff()->add_roles(v1::ACTOR_ROLE_CASE_WORKER);
    auto added = nrm.CallRaw("shelter-a", add);
    ASSERT_TRUE(added.ok() && added->code() == v1::CONTROL_CODE_OK);
  }
  auto cw = nrm.SignIn("shelter-a", "cw.only", "case-worker-only-1");
  ASSERT_TRUE(cw.ok());
  const httplib::Headers cw_me = {{"Cookie", "psg_session=" + *cw}};
  auto refused = web.Get("/dashboard", cw_me);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  auto refused_csv = web.Get("/dashboard/referrals.csv", cw_me);
  ASSERT_TRUE(refused_csv);
  EXPECT_EQ(refused_csv->status, 403);
  auto refused_report = web.Get("/reports?kind=glotip&year=2026", cw_me);
  ASSERT_TRUE(refused_report);
  EXPECT_EQ(refused_report->status, 403);

  // The auditor's check: consistent, and said so on the page.
  auto forged = web.Post("/audit/check", me, httplib::Params{});
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 403);
  auto check = web.Post("/audit/check", me, httplib::Params{{"csrf", csrf}});
  ASSERT_TRUE(check);
  EXPECT_EQ(check->status, 303);
  auto audit = web.Get("/audit", me);
  ASSERT_TRUE(audit);
  EXPECT_NE(audit->body.find("consistent: the log of"), std::string::npos) << audit->body;
  // A name search: a POST; the answer names the case by its reference, no URL carries the name.
  auto no_token = web.Post("/search", me, httplib::Params{{"name", "Rukhsana"}});
  ASSERT_TRUE(no_token);
  EXPECT_EQ(no_token->status, 403);
  auto found = web.Post("/search", me,
                        httplib::Params{{"csrf", csrf}, {"name", "rukhsana"},
                                        {"date_of_birth", DobForAge(24)}});
  ASSERT_TRUE(found);
  EXPECT_EQ(found->status, 200);
  EXPECT_EQ(found->body.find("Rukhsana"), std::string::npos) << "the name echoed back";
  // The shelter has not accepted: it may not open the personal data, so it finds nothing.
  EXPECT_NE(found->body.find("No case found."), std::string::npos) << found->body;
  auto bad_date = web.Post("/search", me,
                           httplib::Params{{"csrf", csrf}, {"name", "x"},
                                           {"date_of_birth", "2000-02-30"}});
  ASSERT_TRUE(bad_date);
  EXPECT_EQ(bad_date->status, 400);
  EXPECT_NE(bad_date->body.find("<b>date_of_birth</b>"), std::string::npos);

  // The language: refused when unknown, kept with the account when offered.
  auto bad_lang = web.Post("/language", me, httplib::Params{{"csrf", csrf}, {"lang", "xx"}});
  ASSERT_TRUE(bad_lang);
  EXPECT_EQ(bad_lang->status, 400);
  auto ur = web.Post("/language", me, httplib::Params{{"csrf", csrf}, {"lang", "ur"}});
  ASSERT_TRUE(ur);
  EXPECT_EQ(ur->status, 303);
  auto rtl = web.Get("/", me);  // the same session, no language cookie sent
  ASSERT_TRUE(rtl);
  EXPECT_NE(rtl->body.find("<html lang=\"ur\" dir=\"rtl\">"), std::string::npos);
  auto other_session = nrm.SignIn("shelter-a", "e2e.desk", Nrm::kDeskPassword);
  ASSERT_TRUE(other_session.ok());
  auto again = web.Get("/", {{"Cookie", "psg_session=" + *other_session}});
  ASSERT_TRUE(again);
  EXPECT_NE(again->body.find("dir=\"rtl\""), std::string::npos) << "not kept with the account";
  // A case's access log, by its reference: the shelter's own journey reads are in it.
  std::string reference, referral;
  for (const auto& r : nrm.Inbox("shelter-a")) {
    reference = r.case_reference();
    referral = r.referral_id();
  }
  ASSERT_FALSE(reference.empty());
  // Accepted, the shelter may read the case; its reading of the case page is recorded.
  auto accepted = nrm.Act("shelter-a", referral, v1::REFERRAL_STATUS_ACCEPTED);
  ASSERT_TRUE(accepted.ok() && accepted->code() == v1::CONTROL_CODE_OK);
  ASSERT_TRUE(nrm.Settle(500));
  ASSERT_EQ(web.Get("/cases/" + *c, me)->status, 200);
  ASSERT_TRUE(nrm.Settle(500));
  auto access = web.Get("/audit?case=" + reference, me);
  ASSERT_TRUE(access);
  EXPECT_EQ(access->status, 200);
  EXPECT_NE(access->body.find("read the case"), std::string::npos) << access->body;
  EXPECT_EQ(access->body.find(" 0 access record(s)"), std::string::npos);
  auto typo = web.Get("/audit?case=" + reference.substr(0, reference.size() - 1) +
                          (reference.back() == '9' ? "8" : "9"),
                      me);
  ASSERT_TRUE(typo);
  EXPECT_NE(typo->body.find("check digit"), std::string::npos);

}

// A police officer records a case in the intake form: a bad value comes back next to its field
// with nothing recorded; a good form records the case, which the referral engine then routes.
TEST(E2eWeb, OfficerRecordsACaseThroughTheIntakeForm) {
  NrmOptions o;
  o.http = true;
  Nrm nrm({FirstResponder("fia-karachi"),
           Protection("shelter-a", v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER})},
          WomenToShelterRules(), o);
  ASSERT_TRUE(nrm.Start());
  ASSERT_TRUE(nrm.DeskSession("fia-karachi").ok());
  httplib::Client web("127.0.0.1", nrm.HttpPort("fia-karachi"));
  web.set_follow_location(false);
  auto form = web.Get("/login");
  ASSERT_TRUE(form);
  const std::string pre = SetCookie(form, "psg_pre");
  auto in = web.Post(
      "/login", {{"Cookie", "psg_pre=" + pre}},
      httplib::Params{{"pre", pre}, {"login", "e2e.desk"}, {"password", Nrm::kDeskPassword}});
  ASSERT_TRUE(in);
  const httplib::Headers me = {{"Cookie", "psg_session=" + SetCookie(in, "psg_session")}};
  auto page = web.Get("/intake", me);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->status, 200);
  const std::string csrf = Hidden(page->body, "csrf");
  ASSERT_FALSE(csrf.empty());
  EXPECT_NE(page->body.find("value=\"EXPLOITATION_FORM_FORCED_LABOUR\""), std::string::npos);

  // The form is multipart (large texts; the query string is never read for it).
  auto multipart = [](const httplib::Params& p) {
    httplib::MultipartFormDataItems items;
    for (const auto& [k, v] : p) items.push_back({k, v, "", ""});
    return items;
  };
  const std::string once = Hidden(page->body, "once");
  ASSERT_EQ(once.size(), 32u);
  httplib::Params good{{"csrf", csrf},
                       {"once", once},
                       {"crime_type", "CRIME_TYPE_TIP"},
                       {"sex", "SEX_FEMALE"},
                       {"age_years", "24"},
                       {"citizenship", "PK"},
                       {"country_of_identification", "PK"},
                       {"province_of_identification", "PK-SD"},
                       {"identification_channel", "IDENTIFICATION_CHANNEL_POLICE_OPERATION"},
                       {"exploitation_forms", "EXPLOITATION_FORM_SEXUAL_EXPLOITATION"},
                       {"consents", "CONSENT_SCOPE_SERVICES"},
                       {"consents", "CONSENT_SCOPE_SHARE_WITH_AGENCIES"},
                       {"given_name", "Web"},
                       {"family_name", "Person"}};
  const size_t before = nrm.Cases("fia-karachi").size();
  httplib::Params bad = good;
  bad.erase("citizenship");
  bad.emplace("citizenship", "XX1");
  auto refused = web.Post("/intake", me, multipart(bad));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 400);
  EXPECT_NE(refused->body.find("Nothing was recorded"), std::string::npos) << refused->body;
  EXPECT_NE(refused->body.find("citizenship"), std::string::npos);
  EXPECT_NE(refused->body.find("value=\"XX1\""), std::string::npos);  // what was typed stays
  httplib::Params wrong_choice = good;
  wrong_choice.erase("sex");
  wrong_choice.emplace("sex", "SEX_<script>");
  auto refused2 = web.Post("/intake", me, multipart(wrong_choice));
  ASSERT_TRUE(refused2);
  EXPECT_EQ(refused2->status, 400);
  EXPECT_EQ(refused2->body.find("<script>"), std::string::npos);
  EXPECT_EQ(nrm.Cases("fia-karachi").size(), before);

  // A long narrative in Urdu script (4,000 characters, about 8 KB of UTF-8) is taken whole.
  std::string urdu;
  for (int i = 0; i < 2000; ++i) urdu += "\xd8\xa7\xdb\x81";
  httplib::Params long_text = good;
  long_text.emplace("narrative", urdu);
  // The remaining HTCDS/CTDC fields of the form reach the profile.
  long_text.emplace("sexual_exploitation_types", "SEXUAL_EXPLOITATION_TYPE_PROSTITUTION");
  long_text.emplace("majority_at_exploitation", "MAJORITY_STATUS_MINOR");
  long_text.emplace("trafficking_status", "TRAFFICKING_STATUS_ACTUAL");
  long_text.emplace("minority_group", "yes");
  long_text.emplace("disability", "no");
  long_text.emplace("is_abduction", "1");
  long_text.emplace("province_of_exploitation", "PK-PB");
  long_text.emplace("passport_number", "AB1234567");
  auto recorded = web.Post("/intake", me, multipart(long_text));
  ASSERT_TRUE(recorded);
  ASSERT_EQ(recorded->status, 200) << recorded->body;
  EXPECT_NE(recorded->body.find("The case was recorded"), std::string::npos);
  ASSERT_EQ(nrm.Cases("fia-karachi").size(), before + 1);
  const std::string case_id = nrm.Cases("fia-karachi").back().case_id();
  // The same form sent again (a reload, a double click) records nothing and points to the case.
  auto again = web.Post("/intake", me, multipart(long_text));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 409);
  EXPECT_NE(again->body.find("/cases/" + case_id), std::string::npos) << again->body;
  ASSERT_TRUE(nrm.Settle(300));
  EXPECT_EQ(nrm.Cases("fia-karachi").size(), before + 1) << "a reload recorded a second case";
  {
    const v1::CaseState web_case = nrm.Cases("fia-karachi").back();
    const v1::Profile& p = web_case.profile();
    ASSERT_EQ(p.sexual_exploitation_types_size(), 1);
    EXPECT_EQ(p.majority_at_exploitation(), v1::MAJORITY_STATUS_MINOR);
    EXPECT_TRUE(p.has_minority_group() && p.minority_group());
    EXPECT_TRUE(p.has_disability() && !p.disability());
    EXPECT_TRUE(p.is_abduction());
    EXPECT_EQ(p.province_of_exploitation(), "PK-PB");
    EXPECT_EQ(web_case.trafficking_status(), v1::TRAFFICKING_STATUS_ACTUAL);
    EXPECT_FALSE(web_case.reference().empty());
    EXPECT_NE(recorded->body.find(web_case.reference()), std::string::npos)
        << "the new case's reference is not shown";
  }
  EXPECT_TRUE(nrm.WaitJourney(
      case_id, [](const JourneyView& j) { return !j.To("shelter-a").empty(); }, nullptr,
      "the router to refer the web-recorded case"));
  // A newcomer whose password the admin chose is sent to choose their own before anything else.
  auto admin = nrm.SignIn("fia-karachi", "admin", Nrm::kAdminPassword);
  ASSERT_TRUE(admin.ok());
  v1::ControlRequest add;
  add.set_session_token(*admin);
  add.mutable_staff()->set_op(v1::StaffRequest::OP_ADD);
  add.mutable_staff()->set_login("newcomer");
  add.mutable_staff()->set_password("chosen-by-admin");
  add.mutable_staff()->add_roles(v1::ACTOR_ROLE_CASE_WORKER);
  ASSERT_EQ(nrm.CallRaw("fia-karachi", add)->code(), v1::CONTROL_CODE_OK);
  auto form2 = web.Get("/login");
  const std::string pre2 = SetCookie(form2, "psg_pre");
  auto in2 = web.Post(
      "/login", {{"Cookie", "psg_pre=" + pre2}},
      httplib::Params{{"pre", pre2}, {"login", "newcomer"}, {"password", "chosen-by-admin"}});
  ASSERT_TRUE(in2);
  const httplib::Headers newcomer = {{"Cookie", "psg_session=" + SetCookie(in2, "psg_session")}};
  auto sent_away = web.Get("/", newcomer);
  ASSERT_TRUE(sent_away);
  EXPECT_EQ(sent_away->status, 303);
  EXPECT_EQ(sent_away->get_header_value("Location"), "/password");
  auto pw_page = web.Get("/password", newcomer);
  ASSERT_TRUE(pw_page);
  const std::string pw_csrf = Hidden(pw_page->body, "csrf");
  auto changed = web.Post("/password", newcomer,
                          httplib::Params{{"csrf", pw_csrf},
                                          {"current", "chosen-by-admin"},
                                          {"new", "my-own-secret-2"},
                                          {"again", "my-own-secret-2"}});
  ASSERT_TRUE(changed);
  EXPECT_EQ(changed->status, 303) << changed->body;
  auto works = web.Get("/", newcomer);
  ASSERT_TRUE(works);
  EXPECT_EQ(works->status, 200);

  // Without the form's token nothing is recorded.
  httplib::Params no_token = good;
  no_token.erase("csrf");
  auto forged = web.Post("/intake", me, multipart(no_token));
  // Fields in the query string are never taken for the form.
  auto fresh = web.Get("/intake", me);
  ASSERT_TRUE(fresh);
  auto by_query = web.Post("/intake?crime_type=CRIME_TYPE_TIP&sex=SEX_FEMALE", me,
                           httplib::MultipartFormDataItems{{"csrf", csrf, "", ""},
                                                           {"once", Hidden(fresh->body, "once"), "", ""},
                                                           {"given_name", "Query", "", ""}});
  ASSERT_TRUE(by_query);
  EXPECT_EQ(by_query->status, 400);
  EXPECT_NE(by_query->body.find("takes no values in its address"), std::string::npos)
      << by_query->body;
  // A form above the limit gets a page saying so, with the headers; the node keeps serving.
  httplib::Params huge = good;
  huge.emplace("narrative", std::string(70 * 1024, 'x'));
  auto too_large = web.Post("/intake", me, multipart(huge));
  ASSERT_TRUE(too_large);
  EXPECT_EQ(too_large->status, 413);
  EXPECT_NE(too_large->body.find("larger than this workspace accepts"), std::string::npos);
  EXPECT_EQ(too_large->get_header_value("X-Frame-Options"), "DENY");
  // Paging far beyond the end, or with nonsense, shows the last page.
  for (const std::string page : {"42949673", "99999999999999999999", "-1", "x"}) {
    auto far = web.Get("/?page=" + page, me);
    ASSERT_TRUE(far) << page;
    EXPECT_EQ(far->status, 200) << page;
  }
  // A junk session cookie is a signed-out visitor; the node is not asked.
  auto junk = web.Get("/", {{"Cookie", "psg_session=junk"}});
  ASSERT_TRUE(junk);
  EXPECT_EQ(junk->status, 303);
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 403);
  EXPECT_EQ(nrm.Cases("fia-karachi").size(), before + 1);
}

// With tls_self_signed the node makes its own certificate at first start and serves only HTTPS;
// the session cookie is then Secure.
TEST(E2eWeb, SelfSignedTlsAtFirstStart) {
  NrmOptions o;
  o.http = true;
  o.https = true;
  Nrm nrm({FirstResponder("fia-karachi")}, WomenToShelterRules(), o);
  ASSERT_TRUE(nrm.Start());
  ASSERT_TRUE(nrm.DeskSession("fia-karachi").ok());
  const std::string data = nrm.dir() + "/nodes/fia-karachi";
  ASSERT_TRUE(std::filesystem::exists(data + "/http-cert.pem"));
  EXPECT_EQ(std::filesystem::status(data + "/http-key.pem").permissions() &
                std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  httplib::SSLClient web("127.0.0.1", nrm.HttpPort("fia-karachi"));
  web.enable_server_certificate_verification(false);  // self-signed: not trusted by anyone yet
  web.set_follow_location(false);
  auto form = web.Get("/login");
  ASSERT_TRUE(form) << "no HTTPS answer";
  ASSERT_EQ(form->status, 200);
  const std::string pre = SetCookie(form, "psg_pre");
  auto in = web.Post("/login", {{"Cookie", "psg_pre=" + pre}},
                     httplib::Params{{"pre", pre}, {"login", "e2e.desk"}, {"password", Nrm::kDeskPassword}});
  ASSERT_TRUE(in);
  ASSERT_EQ(in->status, 303);
  bool secure = false;
  for (const auto& [k, v] : in->headers) {
    if (k == "Set-Cookie" && v.rfind("psg_session=", 0) == 0) {
      secure = v.find("; Secure") != std::string::npos;
    }
  }
  EXPECT_TRUE(secure);
  // Plain HTTP on the same port gets no page.
  httplib::Client plain("127.0.0.1", nrm.HttpPort("fia-karachi"));
  auto refused = plain.Get("/login");
  EXPECT_TRUE(!refused || refused->status != 200);
  // The certificate survives a restart unchanged.
  std::ifstream before_in(data + "/http-cert.pem");
  const std::string before((std::istreambuf_iterator<char>(before_in)), {});
  ASSERT_TRUE(nrm.RestartNode("fia-karachi"));
  std::ifstream after_in(data + "/http-cert.pem");
  const std::string after((std::istreambuf_iterator<char>(after_in)), {});
  EXPECT_EQ(before, after);
}

TEST(E2eWeb, CaseWorkerWritesANoteAndAttachesADocumentOnTheCasePage) {
  NrmOptions o;
  o.http = true;
  Nrm nrm({FirstResponder("fia-karachi")}, v1::RuleSet(), o);
  ASSERT_TRUE(nrm.Start());
  ASSERT_TRUE(nrm.DeskSession("fia-karachi").ok());
  auto c = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited(true));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  httplib::Client web("127.0.0.1", nrm.HttpPort("fia-karachi"));
  web.set_follow_location(false);
  auto form = web.Get("/login");
  ASSERT_TRUE(form);
  const std::string pre = SetCookie(form, "psg_pre");
  auto in = web.Post(
      "/login", {{"Cookie", "psg_pre=" + pre}},
      httplib::Params{{"pre", pre}, {"login", "e2e.desk"}, {"password", Nrm::kDeskPassword}});
  ASSERT_TRUE(in);
  const httplib::Headers me = {{"Cookie", "psg_session=" + SetCookie(in, "psg_session")}};
  const std::string page_path = "/cases/" + *c;
  ASSERT_TRUE(WaitUntil("the case on the web", [&] {
    auto p = web.Get(page_path, me);
    return p && p->status == 200 && p->body.find("id=\"notes\"") != std::string::npos;
  }));
  auto page = web.Get(page_path, me);
  const std::string csrf = Hidden(page->body, "csrf");
  ASSERT_FALSE(csrf.empty());

  // A note, with markup in it: stored sealed, shown escaped.
  const std::string text = "Visit: she asked for <b>legal aid</b> & a doctor.";
  auto added = web.Post(page_path + "/notes", me, httplib::Params{{"csrf", csrf}, {"text", text}});
  ASSERT_TRUE(added);
  EXPECT_EQ(added->status, 303) << added->body;
  auto empty = web.Post(page_path + "/notes", me, httplib::Params{{"csrf", csrf}, {"text", " "}});
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 400) << empty->body;
  auto no_token = web.Post(page_path + "/notes", me, httplib::Params{{"text", "forged"}});
  ASSERT_TRUE(no_token);
  EXPECT_EQ(no_token->status, 403);

  // A document: the type from its bytes, not its name.
  const std::string pdf = "%PDF-1.4\n% web upload\n%%EOF\n";
  auto upload = [&](const std::string& name, const std::string& bytes) {
    httplib::MultipartFormDataItems items = {{"csrf", csrf, "", ""},
                                             {"kind", "DOCUMENT_KIND_COURT_SUMMONS", "", ""},
                                             {"title", "Summons for the hearing", "", ""},
                                             {"file", bytes, name, "application/pdf"}};
    return web.Post(page_path + "/documents", me, items);
  };
  auto fake = upload("summons.pdf", "<html>not a pdf</html>");
  ASSERT_TRUE(fake);
  EXPECT_EQ(fake->status, 400) << fake->body;
  EXPECT_NE(fake->body.find("document.content"), std::string::npos) << fake->body;
  auto real = upload("summons.pdf", pdf);
  ASSERT_TRUE(real);
  EXPECT_EQ(real->status, 303) << real->body;

  // The case page lists both; the notes open with a purpose, recorded.
  std::string document;
  ASSERT_TRUE(WaitUntil("the note and the document on the case page", [&] {
    auto p = web.Get(page_path, me);
    std::smatch m;
    if (!p || !std::regex_search(p->body, m, std::regex("/documents/([0-9a-f-]{36})"))) {
      return false;
    }
    document = m[1].str();
    return p->body.find("court summons") != std::string::npos;
  }));
  auto notes = web.Post(page_path + "/notes/open", me,
                        httplib::Params{{"csrf", csrf}, {"purpose", "case conference"}});
  ASSERT_TRUE(notes);
  ASSERT_EQ(notes->status, 200) << notes->body;
  EXPECT_NE(notes->body.find("&lt;b&gt;legal aid&lt;/b&gt; &amp; a doctor"), std::string::npos)
      << notes->body;
  EXPECT_EQ(notes->body.find("<b>legal aid"), std::string::npos);
  EXPECT_NE(notes->body.find("Summons for the hearing"), std::string::npos);
  auto down = web.Post(page_path + "/documents/" + document, me,
                       httplib::Params{{"csrf", csrf}, {"purpose", "court date"}});
  ASSERT_TRUE(down);
  ASSERT_EQ(down->status, 200);
  EXPECT_EQ(down->body, pdf);
  EXPECT_EQ(down->get_header_value("Content-Type"), "application/pdf");
  EXPECT_NE(down->get_header_value("Content-Disposition").find("attachment"), std::string::npos);

  // Only the upload takes a large body.
  auto big = web.Post("/search", me, std::string(200 * 1024, 'x'), "application/x-www-form-urlencoded");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
}

}  // namespace
}  // namespace passage::e2e
