// People and permissions through the real processes: the role table of docs/roles.md walked
// against running nodes (one account per role), and signing in with the real passagectl binary
// (wrong passwords, lockout, sessions kept 0600, tokens of another node, sign-out).

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

#include "broker/log/event_log.h"
#include "core/case_projection.h"
#include "core/case_reference.h"
#include "core/ids.h"
#include "tests/e2e/nrm_harness.h"
#include "tests/testing/temp_dir.h"

namespace passage::e2e {
namespace {

constexpr v1::ActorRole kCw = v1::ACTOR_ROLE_CASE_WORKER;
constexpr v1::ActorRole kSup = v1::ACTOR_ROLE_SUPERVISOR;
constexpr v1::ActorRole kDo = v1::ACTOR_ROLE_DATA_OFFICER;
constexpr v1::ActorRole kCo = v1::ACTOR_ROLE_COORDINATOR;
constexpr v1::ActorRole kAud = v1::ACTOR_ROLE_AUDITOR;
constexpr v1::ActorRole kAdm = v1::ACTOR_ROLE_NODE_ADMIN;
const std::array<v1::ActorRole, 6> kAllRoles = {kCw, kSup, kDo, kCo, kAud, kAdm};
constexpr const char* kRolePassword = "role-test-password";

std::string LoginOf(v1::ActorRole r) { return "r-" + std::to_string(static_cast<int>(r)); }

std::vector<AgencySpec> Agencies() {
  return {FirstResponder("fia-karachi"),
          Protection("shelter-a", v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER}, 0,
                     /*auto_accept=*/false)};
}

// One account per role on `node` (the node admin is the first admin, "admin").
void AddRoleAccounts(Nrm& nrm, const std::string& node) {
  auto admin = nrm.SignIn(node, "admin", Nrm::kAdminPassword);
  ASSERT_TRUE(admin.ok()) << admin.status().ToString();
  for (auto role : kAllRoles) {
    v1::ControlRequest add;
    add.set_session_token(*admin);
    auto* st = add.mutable_staff();
    st->set_op(v1::StaffRequest::OP_ADD);
    st->set_login(LoginOf(role));
    st->set_password(kRolePassword);
    st->set_permanent(true);
    st->add_roles(role);
    auto r = nrm.CallRaw(node, add);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->code(), v1::CONTROL_CODE_OK) << Describe(*r);
  }
}

// docs/roles.md, "commands", transcribed: each row is a command, the node it is run on, and the
// roles that may run it. The test holds its own copy so that a change to the node's table that
// is not made to the document (and here) fails.
struct Row {
  std::string name;
  std::string node;
  std::set<v1::ActorRole> allowed;
  std::function<v1::ControlRequest()> make;
};

std::vector<Row> Table(const std::string& case_id, const std::string& referral_id,
                       const std::string& consent_id) {
  auto publish = [case_id](std::function<void(v1::Event*)> fill) {
    return [case_id, fill] {
      v1::ControlRequest q;
      v1::Event* e = q.mutable_publish()->mutable_event();
      e->set_case_id(case_id);
      fill(e);
      return q;
    };
  };
  auto simple = [](std::function<void(v1::ControlRequest*)> fill) {
    return [fill] {
      v1::ControlRequest q;
      fill(&q);
      return q;
    };
  };
  return {
      {"status", "fia-karachi", {kCw, kSup, kDo, kCo, kAud, kAdm}, simple([](auto* q) {
         q->mutable_status();
       })},
      {"whoami", "fia-karachi", {kCw, kSup, kDo, kCo, kAud, kAdm}, simple([](auto* q) {
         q->mutable_whoami();
       })},
      {"inbox", "shelter-a", {kCw, kSup, kCo}, simple([](auto* q) { q->mutable_inbox(); })},
      {"feed", "shelter-a", {kCw, kSup, kCo}, simple([](auto* q) { q->mutable_feed(); })},
      {"apikey list", "shelter-a", {kAdm}, simple([](auto* q) {
         q->mutable_api_key_admin()->set_op(v1::ApiKeyAdminRequest::OP_LIST);
       })},
      {"cases", "fia-karachi", {kCw, kSup, kCo, kDo, kAud}, simple([](auto* q) {
         q->mutable_cases();
       })},
      {"journey", "fia-karachi", {kCw, kSup, kCo, kAud}, simple([case_id](auto* q) {
         q->mutable_journey()->set_case_id(case_id);
       })},
      {"stats", "fia-karachi", {kDo, kCo, kSup}, simple([](auto* q) { q->mutable_stats(); })},
      {"export-ctdc", "fia-karachi", {kDo}, simple([](auto* q) { q->mutable_export_ctdc(); })},
      {"audit heads", "fia-karachi", {kAud, kCo}, simple([](auto* q) { q->mutable_tree_head(); })},
      {"audit consistency", "fia-karachi", {kAud, kCo}, simple([](auto* q) {
         q->mutable_consistency()->set_first_size(1);
       })},
      {"staff list", "fia-karachi", {kAdm}, simple([](auto* q) {
         q->mutable_staff()->set_op(v1::StaffRequest::OP_LIST);
       })},
      {"personal", "fia-karachi", {kCw, kSup}, simple([case_id](auto* q) {
         q->mutable_personal()->set_case_id(case_id);
       })},
      {"intake", "fia-karachi", {kCw, kSup}, simple([](auto* q) {
         *q->mutable_intake() = AdultWomanSexuallyExploited();
       })},
      {"referral hold", "shelter-a", {kCw, kSup}, simple([referral_id](auto* q) {
         q->mutable_referral_action()->set_referral_id(referral_id);
         q->mutable_referral_action()->set_to(v1::REFERRAL_STATUS_ON_HOLD);
       })},
      {"service", "fia-karachi", {kCw, kSup}, publish([referral_id](v1::Event* e) {
         e->mutable_service_delivered()->set_referral_id(referral_id);
         e->mutable_service_delivered()->set_service(v1::SERVICE_TYPE_MEDICAL);
       })},
      {"correct", "fia-karachi", {kCw, kSup}, simple([case_id](auto* q) {
         q->mutable_correct()->set_case_id(case_id);
         q->mutable_correct()->set_path("profile.is_abduction");
         q->mutable_correct()->set_new_value("true");
         q->mutable_correct()->set_reason("ticked wrongly");
       })},
      {"plan add", "shelter-a", {kCw, kSup}, simple([case_id, referral_id](auto* q) {
         auto* p = q->mutable_plan();
         p->set_action(v1::PlanRequest::ACTION_ADD_ITEM);
         p->set_case_id(case_id);
         p->set_referral_id(referral_id);
         p->set_service(v1::SERVICE_TYPE_MEDICAL);
         p->set_due_date("2030-01-01");
       })},
      {"plan due", "shelter-a", {kCw, kSup, kCo}, simple([](auto* q) {
         q->mutable_plan()->set_action(v1::PlanRequest::ACTION_DUE);
       })},
      {"proceeding", "fia-karachi", {kCw, kSup}, publish([](v1::Event* e) {
         e->mutable_criminal_proceeding_updated()->mutable_proceeding()->set_milestone(
             v1::PROCEEDING_MILESTONE_FIR_REGISTERED);
       })},
      {"consent withdraw", "fia-karachi", {kCw, kSup}, publish([consent_id](v1::Event* e) {
         e->mutable_consent_withdrawn()->set_consent_id(consent_id);
       })},
      {"refer with consent override", "fia-karachi", {kSup}, publish([case_id](v1::Event* e) {
         auto* r = e->mutable_referral_sent()->mutable_referral();
         r->set_referral_id(core::NewUuidV7());
         r->set_case_id(case_id);
         r->set_kind(v1::REFERRAL_KIND_REFERRAL);
         r->set_from_agency("fia-karachi");
         r->set_to_agency("shelter-a");
         r->set_service(v1::SERVICE_TYPE_MEDICAL);
         r->set_priority(v1::PRIORITY_EMERGENCY);
         r->set_respond_by_ms(NowMs() + 3'600'000);
         r->add_data_scope(v1::DATA_SECTION_PROFILE);
         r->mutable_consent_override()->set_reason("life at risk");
         r->mutable_consent_override()->set_role(v1::ACTOR_ROLE_CASE_WORKER);  // ignored
       })},
      {"record an access by hand", "fia-karachi", {}, publish([](v1::Event* e) {
         e->mutable_record_accessed()->add_sections(v1::DATA_SECTION_PROFILE);
         e->mutable_record_accessed()->set_purpose("typed in");
       })},
      {"close", "fia-karachi", {kSup}, publish([](v1::Event* e) {
         e->mutable_case_closed()->set_reason("test");
       })},
  };
}

TEST(E2ePeople, EveryCommandAndRoleOfTheRoleTable) {
  Nrm nrm(Agencies(), WomenToShelterRules());
  ASSERT_TRUE(nrm.Start());
  auto c = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::string referral;
  ASSERT_TRUE(nrm.WaitReceived(*c, "shelter-a", &referral));
  const std::string consent = nrm.FirstConsentId("fia-karachi", *c);
  ASSERT_FALSE(consent.empty());
  AddRoleAccounts(nrm, "fia-karachi");
  AddRoleAccounts(nrm, "shelter-a");

  std::map<std::pair<std::string, v1::ActorRole>, std::string> sessions;
  for (const std::string node : {"fia-karachi", "shelter-a"}) {
    for (auto role : kAllRoles) {
      auto t = role == kAdm ? nrm.SignIn(node, "admin", Nrm::kAdminPassword)
                            : nrm.SignIn(node, LoginOf(role), kRolePassword);
      ASSERT_TRUE(t.ok()) << t.status().ToString();
      sessions[{node, role}] = *t;
    }
  }
  const auto table = Table(*c, referral, consent);

  // Pass 1: every refusal. Each is FORBIDDEN and names the roles it needs; together they add
  // nothing to the shared log.
  ASSERT_TRUE(nrm.Settle(800));
  const auto log_before = nrm.RouterEventCount();
  ASSERT_TRUE(log_before.has_value());
  int refusals = 0;
  for (const auto& row : table) {
    for (auto role : kAllRoles) {
      if (row.allowed.count(role) != 0) continue;
      SCOPED_TRACE(row.name + " as " + v1::ActorRole_Name(role));
      v1::ControlRequest q = row.make();
      q.set_session_token(sessions[{row.node, role}]);
      auto r = nrm.CallRaw(row.node, q);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->code(), v1::CONTROL_CODE_FORBIDDEN) << Describe(*r);
      EXPECT_EQ(r->field(), "role");
      EXPECT_FALSE(r->reason().empty());
      ++refusals;
    }
  }
  EXPECT_GT(refusals, 60);
  ASSERT_TRUE(nrm.Settle(800));
  EXPECT_EQ(nrm.RouterEventCount(), log_before) << "a refused command reached the shared log";

  // Pass 2: every permission. The node lets it through (it may still be refused for another
  // reason: a second hold of the same referral breaks the state machine, not the role table).
  for (const auto& row : table) {
    for (auto role : row.allowed) {
      SCOPED_TRACE(row.name + " as " + v1::ActorRole_Name(role));
      v1::ControlRequest q = row.make();
      q.set_session_token(sessions[{row.node, role}]);
      auto r = nrm.CallRaw(row.node, q);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_NE(r->code(), v1::CONTROL_CODE_FORBIDDEN) << Describe(*r);
      EXPECT_NE(r->code(), v1::CONTROL_CODE_UNAUTHENTICATED) << Describe(*r);
    }
  }
  // whoami names the person and the role proven at sign-in.
  v1::ControlRequest who;
  who.mutable_whoami();
  who.set_json(true);
  who.set_session_token(sessions[{"fia-karachi", kSup}]);
  auto me = nrm.CallRaw("fia-karachi", who);
  ASSERT_TRUE(me.ok());
  google::protobuf::Struct obj;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(me->json(), &obj).ok()) << me->json();
  EXPECT_EQ(detail::Str(obj, "staff_id").rfind("s-", 0), 0u) << me->json();
  EXPECT_EQ(detail::Strings(obj, "roles"), std::vector<std::string>{"supervisor"});
}

// The small-cell threshold is the NRM's policy: nobody goes below it; only a data officer may go
// above it.
TEST(E2ePeople, SmallCellThresholdIsAPolicyNotAFlag) {
  Nrm nrm(Agencies(), WomenToShelterRules());
  ASSERT_TRUE(nrm.Start());
  AddRoleAccounts(nrm, "fia-karachi");
  auto stats = [&](v1::ActorRole role, uint32_t k) {
    auto t = nrm.SignIn("fia-karachi", LoginOf(role), kRolePassword);
    EXPECT_TRUE(t.ok());
    v1::ControlRequest q;
    q.set_session_token(t.ok() ? *t : "");
    q.mutable_stats()->add_by("sex");
    q.mutable_stats()->set_k(k);
    auto r = nrm.CallRaw("fia-karachi", q);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : v1::ControlResponse();
  };
  for (auto role : {kDo, kCo, kSup}) {
    auto low = stats(role, 1);
    EXPECT_EQ(low.code(), v1::CONTROL_CODE_REFUSED) << Describe(low);
    EXPECT_EQ(low.field(), "k");
    EXPECT_EQ(stats(role, 0).code(), v1::CONTROL_CODE_OK);  // the policy's own k
    EXPECT_EQ(stats(role, 5).code(), v1::CONTROL_CODE_OK);
  }
  EXPECT_EQ(stats(kDo, 20).code(), v1::CONTROL_CODE_OK);
  EXPECT_EQ(stats(kCo, 20).code(), v1::CONTROL_CODE_REFUSED);
}

// The access log tells the truth: a recipient that has not accepted a referral is never recorded as
// having read the personal data; its attempt to open it is refused and recorded as a refused
// attempt; once it accepts, its read is recorded as a read. A recipient that declines without
// opening anything leaves no read of PERSONAL behind.
TEST(E2ePeople, TheAccessLogRecordsRefusedAttemptsAndNoReadBeforeAcceptance) {
  Nrm nrm(Agencies(), WomenToShelterRules());
  ASSERT_TRUE(nrm.Start());
  auto c = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::string referral;
  ASSERT_TRUE(nrm.WaitReceived(*c, "shelter-a", &referral));

  auto personal = [&](const std::string& case_id) {
    v1::ControlRequest q;
    q.mutable_personal()->set_case_id(case_id);
    q.mutable_personal()->set_purpose("admission interview");
    auto r = nrm.Call("shelter-a", q);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : v1::ControlResponse();
  };
  // shelter-a's entries about PERSONAL in the journey: reads and refused attempts.
  auto personal_entries = [&](const std::string& case_id, int* reads, int* refused) {
    *reads = 0;
    *refused = 0;
    auto jv = nrm.Journey(case_id);
    if (!jv) return;
    for (const auto& e : jv->entries) {
      if (e.agency != "shelter-a" || e.text.find("PERSONAL") == std::string::npos) continue;
      if (e.text.find("tried to read") != std::string::npos) {
        ++*refused;
      } else if (e.text.find("read the case") != std::string::npos) {
        ++*reads;
      }
    }
  };

  // Before acceptance: refused, recorded as a refused attempt, nothing shown.
  v1::ControlResponse before = personal(*c);
  EXPECT_EQ(before.code(), v1::CONTROL_CODE_REFUSED) << Describe(before);
  EXPECT_NE(before.reason().find("no accepted referral"), std::string::npos) << Describe(before);
  EXPECT_NE(before.reason().find("attempt was recorded"), std::string::npos) << Describe(before);
  EXPECT_EQ(before.text().find("Synthetic"), std::string::npos);
  ASSERT_TRUE(nrm.Settle(800));
  int reads = -1, refused = -1;
  personal_entries(*c, &reads, &refused);
  EXPECT_EQ(reads, 0) << nrm.JourneyText(*c);
  EXPECT_EQ(refused, 1) << nrm.JourneyText(*c);

  // After acceptance the owner's node re-seals the data for shelter-a; the read is a read.
  auto acc = nrm.Act("shelter-a", referral, v1::REFERRAL_STATUS_ACCEPTED);
  ASSERT_TRUE(acc.ok());
  ASSERT_EQ(acc->code(), v1::CONTROL_CODE_OK) << Describe(*acc);
  v1::ControlResponse after;
  const int64_t deadline = NowMs() + 15000;
  do {
    after = personal(*c);
    if (after.code() == v1::CONTROL_CODE_OK) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } while (NowMs() < deadline);
  ASSERT_EQ(after.code(), v1::CONTROL_CODE_OK) << Describe(after);
  EXPECT_NE(after.text().find("Synthetic"), std::string::npos);
  ASSERT_TRUE(nrm.Settle(800));
  personal_entries(*c, &reads, &refused);
  EXPECT_EQ(reads, 1) << nrm.JourneyText(*c);
  EXPECT_GE(refused, 1);  // plus any attempt made while the owner was still re-sealing

  // A second case that shelter-a declines without opening: no PERSONAL read of it anywhere.
  auto c2 = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited());
  ASSERT_TRUE(c2.ok());
  std::string second_referral;
  ASSERT_TRUE(nrm.WaitReceived(*c2, "shelter-a", &second_referral));
  auto rej = nrm.Act("shelter-a", second_referral, v1::REFERRAL_STATUS_REJECTED, "",
                     v1::REJECT_REASON_CAPACITY_FULL);
  ASSERT_TRUE(rej.ok());
  ASSERT_EQ(rej->code(), v1::CONTROL_CODE_OK) << Describe(*rej);
  ASSERT_TRUE(nrm.Settle(800));
  personal_entries(*c2, &reads, &refused);
  EXPECT_EQ(reads, 0) << nrm.JourneyText(*c2);
  EXPECT_EQ(refused, 0);
}

// The owner's node is SIGKILLed before the recipient accepts: the recipient still opens exactly the
// personal data its referral shares within 5 s of accepting (the broker releases the key the owner
// escrowed at intake), and an agency without an accepted referral opens nothing.
TEST(E2ePeople, RecipientOpensPersonalDataWhileTheOwnerIsOffline) {
  std::vector<AgencySpec> agencies = Agencies();
  agencies.push_back(Protection("shelter-b", v1::AGENCY_TYPE_SHELTER, {v1::SERVICE_TYPE_SHELTER}));
  agencies.back().region = "PK-PB";  // the rule prefers shelter-a; shelter-b gets no referral
  v1::RuleSet rules = WomenToShelterRules();
  rules.mutable_rules(0)->set_prefer_same_region(true);
  Nrm nrm(agencies, rules);
  ASSERT_TRUE(nrm.Start());
  auto c = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  JourneyView j;
  ASSERT_TRUE(nrm.WaitJourney(
      *c,
      [](const JourneyView& j) {
        auto to = j.To("shelter-a");
        return to.size() == 1 && to[0]->status == "RECEIVED";
      },
      &j, "the referral to shelter-a to be RECEIVED"));
  ASSERT_TRUE(j.To("shelter-b").empty()) << j.Summary();
  const std::string referral = j.To("shelter-a")[0]->referral_id;
  // The escrow is in the log, as the owner's own event.
  bool escrowed = false;
  for (const auto& e : j.entries) {
    escrowed |=
        e.agency == "fia-karachi" && e.text.find("key with the broker") != std::string::npos;
  }
  EXPECT_TRUE(escrowed) << nrm.JourneyText(*c);

  nrm.KillNode("fia-karachi");
  ASSERT_FALSE(nrm.Running("fia-karachi"));

  auto personal = [&](const std::string& node) {
    v1::ControlRequest q;
    q.mutable_personal()->set_case_id(*c);
    q.mutable_personal()->set_purpose("admission");
    auto r = nrm.Call(node, q);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : v1::ControlResponse();
  };
  auto acc = nrm.Act("shelter-a", referral, v1::REFERRAL_STATUS_ACCEPTED);
  ASSERT_TRUE(acc.ok());
  ASSERT_EQ(acc->code(), v1::CONTROL_CODE_OK) << Describe(*acc);
  const int64_t accepted_at = NowMs();
  v1::ControlResponse opened;
  do {
    opened = personal("shelter-a");
    if (opened.code() == v1::CONTROL_CODE_OK) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (NowMs() - accepted_at < 5000);
  const int64_t took = NowMs() - accepted_at;
  ASSERT_EQ(opened.code(), v1::CONTROL_CODE_OK) << Describe(opened);
  EXPECT_LT(took, 5000);
  EXPECT_NE(opened.text().find("Synthetic"), std::string::npos) << opened.text();
  std::printf("[ measure  ] owner offline: personal data opened %lld ms after acceptance\n",
              static_cast<long long>(took));
  EXPECT_FALSE(nrm.Running("fia-karachi"));  // it really was the escrow, not the owner

  // shelter-b has no referral: its node does not know the case, and the broker holds nothing for
  // it to open.
  v1::ControlResponse other = personal("shelter-b");
  EXPECT_NE(other.code(), v1::CONTROL_CODE_OK) << Describe(other);
  EXPECT_EQ(other.text().find("Synthetic"), std::string::npos);
}

// The agencies the case's current personal-data seal wraps its key for, and the ones it must wrap
// it for (the owner and every agency whose live, accepted referral shares PERSONAL), both from the
// broker's log as it stands: the permanent record, folded with the core projection.
struct SealReaders {
  std::set<std::string> holders;
  std::set<std::string> entitled;
  std::string Describe() const {
    std::string out = "seal opens for {";
    for (const auto& a : holders) out += " " + a;
    out += " }, live PERSONAL access {";
    for (const auto& a : entitled) out += " " + a;
    return out + " }";
  }
};

std::optional<SealReaders> ReadSealReaders(Nrm& nrm, const std::string& case_id) {
  log::EventLogOptions o;
  o.path = nrm.dir() + "/broker/log";
  o.read_only = true;  // beside the running broker: the log as of now
  auto log = log::EventLog::Open(o);
  if (!log.ok()) return std::nullopt;
  auto seqs = (*log)->CaseEvents(case_id, 0, 100000);
  if (!seqs.ok()) return std::nullopt;
  core::CaseProjection p;
  for (uint64_t seq : *seqs) {
    auto bytes = (*log)->Read(seq);
    v1::Envelope env;
    v1::Event e;
    if (!bytes.ok() || !env.ParseFromString(*bytes) || !e.ParseFromString(env.event())) {
      return std::nullopt;
    }
    p.Apply(env, e);
  }
  SealReaders r;
  for (const auto& w : p.state().personal().wrapped_keys()) r.holders.insert(w.agency_id());
  r.entitled.insert(p.state().owner_agency());
  for (const auto& g : p.state().access()) {
    if (core::GrantIncludes(g, v1::DATA_SECTION_PERSONAL)) r.entitled.insert(g.agency_id());
  }
  return r;
}

// Waits until the seal opens for exactly the agencies with live PERSONAL access and `want` is that
// set, then checks that it stays so (no late re-wrap for anyone else).
::testing::AssertionResult SealSettlesOn(Nrm& nrm, const std::string& case_id,
                                         const std::set<std::string>& want) {
  std::optional<SealReaders> r;
  const int64_t deadline = NowMs() + 15000;
  for (;;) {
    r = ReadSealReaders(nrm, case_id);
    if (r && r->holders == r->entitled && r->entitled == want) break;
    if (NowMs() > deadline) {
      return ::testing::AssertionFailure()
             << "case " << case_id << ": " << (r ? r->Describe() : "log unreadable");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (!nrm.Settle(800)) return ::testing::AssertionFailure() << "the NRM did not settle";
  r = ReadSealReaders(nrm, case_id);
  if (!r || r->holders != r->entitled || r->entitled != want) {
    return ::testing::AssertionFailure()
           << "case " << case_id << " after settling: " << (r ? r->Describe() : "log unreadable");
  }
  return ::testing::AssertionSuccess();
}

// A data key wrapped for an agency stays in the log for good. After every accept, decline,
// completion and withdrawal the personal data's seal opens for exactly the owner and the agencies
// whose live, accepted referral shares PERSONAL: never for a recipient that has not accepted yet,
// declined, completed, or whose referral was withdrawn.
TEST(E2ePeople, PersonalDataIsSealedForExactlyTheAgenciesWithLiveAccess) {
  Nrm nrm(Agencies(), WomenToShelterRules());
  ASSERT_TRUE(nrm.Start());
  const std::set<std::string> owner = {"fia-karachi"};
  const std::set<std::string> both = {"fia-karachi", "shelter-a"};
  auto act = [&](const std::string& node, const std::string& referral, v1::ReferralStatus to,
                 v1::RejectReason reason = v1::REJECT_REASON_UNSPECIFIED) {
    const std::string outcome = to == v1::REFERRAL_STATUS_COMPLETED ? "stay completed" : "";
    auto r = nrm.Act(node, referral, to, outcome, reason);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->code(), v1::CONTROL_CODE_OK) << Describe(*r);
  };

  // Received, not accepted: the owner only. Accepted: the recipient too. Completed: the owner.
  auto c1 = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited());
  ASSERT_TRUE(c1.ok()) << c1.status().ToString();
  std::string r1;
  ASSERT_TRUE(nrm.WaitReceived(*c1, "shelter-a", &r1));
  EXPECT_TRUE(SealSettlesOn(nrm, *c1, owner));
  ASSERT_NO_FATAL_FAILURE(act("shelter-a", r1, v1::REFERRAL_STATUS_ACCEPTED));
  EXPECT_TRUE(SealSettlesOn(nrm, *c1, both));
  ASSERT_NO_FATAL_FAILURE(act("shelter-a", r1, v1::REFERRAL_STATUS_COMPLETED));
  EXPECT_TRUE(SealSettlesOn(nrm, *c1, owner));

  // Declined: the owner only.
  auto c2 = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited());
  ASSERT_TRUE(c2.ok()) << c2.status().ToString();
  std::string r2;
  ASSERT_TRUE(nrm.WaitReceived(*c2, "shelter-a", &r2));
  ASSERT_NO_FATAL_FAILURE(
      act("shelter-a", r2, v1::REFERRAL_STATUS_REJECTED, v1::REJECT_REASON_CAPACITY_FULL));
  EXPECT_TRUE(SealSettlesOn(nrm, *c2, owner));

  // Withdrawn by the sender after acceptance: while the cancellation is only requested the
  // referral is live; once the recipient confirms it, the owner only.
  auto c3 = nrm.Intake("fia-karachi", AdultWomanSexuallyExploited());
  ASSERT_TRUE(c3.ok()) << c3.status().ToString();
  std::string r3;
  ASSERT_TRUE(nrm.WaitReceived(*c3, "shelter-a", &r3));
  ASSERT_NO_FATAL_FAILURE(act("shelter-a", r3, v1::REFERRAL_STATUS_ACCEPTED));
  EXPECT_TRUE(SealSettlesOn(nrm, *c3, both));
  ASSERT_NO_FATAL_FAILURE(act("fia-karachi", r3, v1::REFERRAL_STATUS_CANCEL_REQUESTED));
  EXPECT_TRUE(SealSettlesOn(nrm, *c3, both));
  ASSERT_NO_FATAL_FAILURE(act("shelter-a", r3, v1::REFERRAL_STATUS_CANCELLED));
  EXPECT_TRUE(SealSettlesOn(nrm, *c3, owner));
}

// Duplicate-person check at intake: the same person recorded again at another first responder,
// with the name spelled another way, gets a warning naming the first agency and its case, and
// nothing else; another person gets none.
TEST(E2ePeople, IntakeWarnsOfACaseForTheSamePersonAtAnotherAgency) {
  std::vector<AgencySpec> agencies = Agencies();
  agencies.push_back(FirstResponder("sindh-police"));
  Nrm nrm(agencies, WomenToShelterRules());
  ASSERT_TRUE(nrm.Start());
  auto intake = [&](const std::string& node, const std::string& given, const std::string& family,
                    const std::string& dob) {
    v1::IntakeRequest in = AdultWomanSexuallyExploited();
    in.mutable_personal()->set_given_name(given);
    in.mutable_personal()->set_family_name(family);
    in.mutable_personal()->set_date_of_birth(dob);
    v1::ControlResponse r;
    auto c = nrm.Intake(node, in, &r);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return std::make_pair(c.ok() ? *c : std::string(), r);
  };
  auto [first, r1] = intake("fia-karachi", "Ayesha", "Khan", DobForAge(24));
  EXPECT_EQ(r1.text().find("may already exist"), std::string::npos) << r1.text();
  auto [second, r2] = intake("sindh-police", "aisha", "  KHAN ", DobForAge(24));
  EXPECT_NE(r2.text().find("may already exist at"), std::string::npos) << r2.text();
  EXPECT_NE(r2.text().find("fia-karachi"), std::string::npos) << r2.text();
  EXPECT_NE(r2.text().find(first), std::string::npos) << r2.text();
  EXPECT_EQ(r2.text().find("Ayesha"), std::string::npos) << "the warning repeats a name";
  auto [third, r3] = intake("sindh-police", "Fatima", "Khan", DobForAge(24));
  EXPECT_EQ(r3.text().find("may already exist"), std::string::npos) << r3.text();
  // The second record is itself found for a later intake at fia: both cases are named.
  auto [fourth, r4] = intake("fia-karachi", "Ayesha", "Khan", DobForAge(24));
  EXPECT_NE(r4.text().find(first), std::string::npos) << r4.text();
  EXPECT_NE(r4.text().find(second), std::string::npos) << r4.text();
}

TEST(E2ePeople, SignInLockoutSessionsAndSignOutWithPassagectl) {
  Nrm nrm(Agencies(), WomenToShelterRules());
  ASSERT_TRUE(nrm.Start());
  AddRoleAccounts(nrm, "fia-karachi");
  ASSERT_TRUE(nrm.DeskSession("shelter-a").ok());
  const std::string fia = nrm.dir() + "/nodes/fia-karachi";
  const std::string shelter = nrm.dir() + "/nodes/shelter-a";
  const std::string sessions = nrm.dir() + "/sessions";
  const std::string cw = LoginOf(kCw);

  // Only the node's OS user and group may reach the control socket.
  struct stat st {};
  ASSERT_EQ(::stat((fia + "/control.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);

  ASSERT_TRUE(nrm.Settle(800));
  const auto log_before = nrm.RouterEventCount();

  // Not signed in: exit 7 with a reason that says what to do.
  CtlProc p = Passagectl({"--node", fia, "inbox"}, "", sessions, nrm.dir());
  EXPECT_EQ(p.code, 7) << p.err;
  EXPECT_NE(p.err.find("passagectl login"), std::string::npos) << p.err;

  // Five wrong passwords lock the account; then the right one is refused too.
  for (int i = 0; i < 5; ++i) {
    p = Passagectl({"--node", fia, "login", cw, "--password-file", "-"}, "wrong-password\n",
                   sessions, nrm.dir());
    EXPECT_EQ(p.code, 7) << p.err;
  }
  p = Passagectl({"--node", fia, "login", cw, "--password-file", "-"},
                 std::string(kRolePassword) + "\n", sessions, nrm.dir());
  EXPECT_EQ(p.code, 7) << "a locked account signed in: " << p.out;
  EXPECT_FALSE(std::filesystem::exists(sessions) && !std::filesystem::is_empty(sessions));

  // The node's security log (read by its admin) has the cause; the shared log has nothing.
  p = Passagectl({"--node", fia, "login", "admin", "--password-file", "-"},
                 std::string(Nrm::kAdminPassword) + "\n", sessions, nrm.dir());
  ASSERT_EQ(p.code, 0) << p.err;
  // A password the admin chose is temporary: the newcomer must choose their own before working.
  p = Passagectl(
      {"--node", fia, "staff", "add", "newbie", "--roles", "case-worker", "--password-file", "-"},
      "chosen-by-admin\n", sessions, nrm.dir());
  ASSERT_EQ(p.code, 0) << p.err;
  const std::string newbie = sessions + "-newbie";
  p = Passagectl({"--node", fia, "login", "newbie", "--password-file", "-"}, "chosen-by-admin\n",
                 newbie, nrm.dir());
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("choose your own"), std::string::npos) << p.out;
  p = Passagectl({"--node", fia, "inbox"}, "", newbie, nrm.dir());
  EXPECT_EQ(p.code, 1) << p.err;
  EXPECT_NE(p.err.find("passagectl passwd"), std::string::npos) << p.err;
  p = Passagectl({"--node", fia, "passwd", "--password-file", "-"},
                 "wrong-current\nmy-own-secret-1\n", newbie, nrm.dir());
  EXPECT_EQ(p.code, 1) << p.err;
  p = Passagectl({"--node", fia, "passwd", "--password-file", "-"}, "chosen-by-admin\nshort\n",
                 newbie, nrm.dir());
  EXPECT_EQ(p.code, 2) << p.err;
  p = Passagectl({"--node", fia, "passwd", "--password-file", "-"},
                 "chosen-by-admin\nmy-own-secret-1\n", newbie, nrm.dir());
  ASSERT_EQ(p.code, 0) << p.err;
  p = Passagectl({"--node", fia, "inbox"}, "", newbie, nrm.dir());
  EXPECT_EQ(p.code, 0) << p.err;

  p = Passagectl({"--node", fia, "staff", "log"}, "", sessions, nrm.dir());
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("account locked"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("the account is locked"), std::string::npos) << p.out;
  EXPECT_EQ(p.out.find(kRolePassword), std::string::npos) << "a password in the security log";
  EXPECT_EQ(p.out.find("wrong-password"), std::string::npos) << "a password in the security log";
  ASSERT_TRUE(nrm.Settle(800));
  EXPECT_EQ(nrm.RouterEventCount(), log_before) << "sign-ins reached the shared log";

  // The admin lifts the lockout; the case worker signs in. The session file is 0600.
  p = Passagectl({"--node", fia, "staff", "enable", cw}, "", sessions, nrm.dir());
  ASSERT_EQ(p.code, 0) << p.err;
  p = Passagectl({"--node", fia, "login", cw, "--password-file", "-"},
                 std::string(kRolePassword) + "\n", sessions, nrm.dir());
  ASSERT_EQ(p.code, 0) << p.err;
  std::string session_file;
  for (const auto& f : std::filesystem::directory_iterator(sessions)) {
    session_file = f.path().string();
  }
  ASSERT_FALSE(session_file.empty());
  ASSERT_EQ(::stat(session_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(sessions.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  p = Passagectl({"--json", "--node", fia, "whoami"}, "", sessions, nrm.dir());
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("case worker"), std::string::npos) << p.out;
  // A case worker may not manage staff or export.
  p = Passagectl({"--node", fia, "staff", "list"}, "", sessions, nrm.dir());
  EXPECT_EQ(p.code, 1) << p.err;
  EXPECT_NE(p.err.find("node admin"), std::string::npos) << p.err;

  // fia's token presented to shelter-a (the session file copied across) is refused by name.
  std::string token;
  std::getline(std::ifstream(session_file), token);
  v1::ControlRequest foreign;
  foreign.set_session_token(token);
  foreign.mutable_status();
  auto r = nrm.CallRaw("shelter-a", foreign);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code(), v1::CONTROL_CODE_UNAUTHENTICATED);
  EXPECT_NE(r->reason().find("another node"), std::string::npos) << r->reason();
  // A forged token of the right node is refused too.
  std::string forged = token;
  forged.back() = forged.back() == '0' ? '1' : '0';
  foreign.set_session_token(forged);
  r = nrm.CallRaw("fia-karachi", foreign);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code(), v1::CONTROL_CODE_UNAUTHENTICATED);

  // Disabling the account ends its session at once.
  p = Passagectl({"--node", fia, "login", "admin", "--password-file", "-"},
                 std::string(Nrm::kAdminPassword) + "\n", sessions + "-admin", nrm.dir());
  ASSERT_EQ(p.code, 0) << p.err;
  p = Passagectl({"--node", fia, "staff", "disable", cw}, "", sessions + "-admin", nrm.dir());
  ASSERT_EQ(p.code, 0) << p.err;
  p = Passagectl({"--node", fia, "inbox"}, "", sessions, nrm.dir());
  EXPECT_EQ(p.code, 7) << p.err;
  EXPECT_NE(p.err.find("ended by an admin"), std::string::npos) << p.err;

  // Sign-out ends the session on the node and removes the file.
  p = Passagectl({"--node", fia, "logout"}, "", sessions + "-admin", nrm.dir());
  EXPECT_EQ(p.code, 0) << p.err;
  p = Passagectl({"--node", fia, "staff", "list"}, "", sessions + "-admin", nrm.dir());
  EXPECT_EQ(p.code, 7) << p.err;
}

}  // namespace
// Case references: given at intake, counted per agency and year across a crash, shown in the
// recipient's inbox, accepted wherever a case id is; a person found by name and date of birth only
// among the cases the agency may open.
TEST(E2ePeople, CaseReferencesAndFindingAPersonAmongTheCasesOneMayOpen) {
  std::vector<AgencySpec> agencies = Agencies();
  agencies.push_back(FirstResponder("sindh-police"));
  Nrm nrm(agencies, WomenToShelterRules());
  ASSERT_TRUE(nrm.Start());
  auto intake = [&](const std::string& node, const std::string& given) {
    v1::IntakeRequest in = AdultWomanSexuallyExploited();
    in.mutable_personal()->set_given_name(given);
    in.mutable_personal()->set_family_name("Baloch");
    in.mutable_personal()->set_date_of_birth(DobForAge(24));
    v1::ControlResponse r;
    auto c = nrm.Intake(node, in, &r);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    const auto at = r.json().find("\"reference\":\"");
    EXPECT_NE(at, std::string::npos) << r.json();
    std::string ref = at == std::string::npos ? "" : r.json().substr(at + 13);
    ref = ref.substr(0, ref.find('"'));
    EXPECT_NE(r.text().find(ref), std::string::npos) << r.text();
    return std::make_pair(c.ok() ? *c : std::string(), ref);
  };
  char yy[8];
  std::snprintf(yy, sizeof(yy), "%02d",
                core::UtcYear(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count()) %
                    100);
  const std::string year = yy;
  auto [c1, r1] = intake("fia-karachi", "Zarina");
  auto [c2, r2] = intake("fia-karachi", "Gul");
  auto [c3, r3] = intake("sindh-police", "Mehnaz");
  EXPECT_EQ(r1.substr(0, 12), "FK-" + year + "-00001-");
  EXPECT_TRUE(core::ParseCaseReference(r1, "r").ok()) << r1;
  EXPECT_EQ(r2.substr(0, 12), "FK-" + year + "-00002-");
  EXPECT_EQ(r3.substr(0, 12), "SP-" + year + "-00001-");

  // A crash does not reuse a number.
  nrm.KillNode("fia-karachi");
  ASSERT_TRUE(nrm.StartNode("fia-karachi"));
  auto [c4, r4] = intake("fia-karachi", "Shazia");
  EXPECT_EQ(r4.substr(0, 12), "FK-" + year + "-00003-") << r4;

  // The shelter's inbox shows the reference; the shelter finds the case by it, typed loosely.
  ASSERT_TRUE(nrm.WaitReceived(c1, "shelter-a"));
  bool shown = false;
  for (const auto& r : nrm.Inbox("shelter-a")) {
    shown = shown || (r.case_id() == c1 && r.case_reference() == r1);
  }
  EXPECT_TRUE(shown) << "the inbox does not carry the case reference";
  std::string loose = r1;
  for (char& ch : loose) ch = ch == '-' ? ' ' : static_cast<char>(std::tolower(ch));
  v1::ControlRequest find;
  find.set_json(true);
  find.mutable_find()->set_reference(loose);
  auto f = nrm.Call("shelter-a", find);
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f->code(), v1::CONTROL_CODE_OK) << f->reason();
  EXPECT_NE(f->json().find(c1), std::string::npos) << f->json();
  // A misheard digit is refused with the reason, not "not found".
  std::string typo = r1;
  typo[8] = typo[8] == '9' ? '8' : static_cast<char>(typo[8] + 1);
  find.mutable_find()->set_reference(typo);
  f = nrm.Call("shelter-a", find);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->code(), v1::CONTROL_CODE_INVALID);
  EXPECT_EQ(f->field(), "reference");
  EXPECT_NE(f->reason().find("check digit"), std::string::npos) << f->reason();
  // A well-formed reference no case has: an empty answer.
  find.mutable_find()->set_reference(core::FormatCaseReference("SP", 2000 + std::stoi(year), 99));
  f = nrm.Call("shelter-a", find);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->json(), "{\"cases\":[]}");

  // The journey by reference, through passagectl.
  const std::string sessions = nrm.dir() + "/sessions";
  const std::string fia = nrm.dir() + "/nodes/fia-karachi";
  CtlProc p = Passagectl({"--node", fia, "login", "e2e.desk", "--password-file", "-"},
                      std::string(Nrm::kDeskPassword) + "\n", sessions, nrm.dir());
  ASSERT_EQ(p.code, 0) << p.err;
  p = Passagectl({"--node", fia, "journey", loose}, "", sessions, nrm.dir());
  EXPECT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("shelter-a"), std::string::npos) << p.out;
  p = Passagectl({"--node", fia, "journey", typo}, "", sessions, nrm.dir());
  EXPECT_EQ(p.code, 2) << p.err;
  EXPECT_NE(p.err.find("check digit"), std::string::npos) << p.err;

  // By name and date of birth: fia finds its own two "Baloch" born 1 July 24 years ago only under the right
  // given name; names are never arguments.
  p = Passagectl({"--node", fia, "--json", "find", "--person"}, "  baloch ZARINA\n" + DobForAge(24) + "\n",
                 sessions, nrm.dir());
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find(c1), std::string::npos) << "names in another order and case were not found";
  EXPECT_EQ(p.out.find(c2), std::string::npos) << p.out;
  p = Passagectl({"--node", fia, "find", "--person"}, "Zarina Baloch\n" + DobForAge(25) + "\n", sessions,
                 nrm.dir());
  EXPECT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("no case found"), std::string::npos) << p.out;
  p = Passagectl({"--node", fia, "find", "--person"}, "Zarina Baloch\n1999-02-30\n", sessions,
                 nrm.dir());
  EXPECT_EQ(p.code, 2) << p.out;
  // The police node does not know fia's case at all (a check of the plumbing, not of the rule).
  v1::ControlRequest by_name;
  by_name.set_json(true);
  by_name.mutable_find()->set_name("Zarina Baloch");
  by_name.mutable_find()->set_date_of_birth(DobForAge(24));
  f = nrm.Call("sindh-police", by_name);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->json(), "{\"cases\":[]}");
  // Nor can the shelter before it accepted the referral that shares the personal data.
  f = nrm.Call("shelter-a", by_name);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->json(), "{\"cases\":[]}") << "found before acceptance";
}

// The notification hook: the agency's own program hears of a new referral once, with its case
// reference and no personal data in its arguments, and not again after a restart.
TEST(E2ePeople, NotifyCommandHearsOfANewReferralOnceWithoutPersonalData) {
  testing::TempDir probe_dir;
  const std::string log = probe_dir.Sub("notified.log");
  const std::string probe = probe_dir.Sub("probe.sh");
  std::ofstream(probe) << "#!/bin/sh\necho \"$@\" >> " << log << "\n";
  ::chmod(probe.c_str(), 0755);
  NrmOptions o;
  o.notify_command = probe;
  v1::RuleSet rules = WomenToShelterRules();
  Nrm nrm(Agencies(), rules, o);
  ASSERT_TRUE(nrm.Start());
  v1::IntakeRequest in = AdultWomanSexuallyExploited();
  in.mutable_personal()->set_given_name("Nasreen");
  v1::ControlResponse r;
  auto c = nrm.Intake("fia-karachi", in, &r);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::string referral;
  ASSERT_TRUE(nrm.WaitReceived(*c, "shelter-a", &referral));
  auto lines = [&] {
    std::ifstream f(log);
    std::vector<std::string> out;
    for (std::string l; std::getline(f, l);) out.push_back(l);
    return out;
  };
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (lines().empty() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto got = lines();
  ASSERT_EQ(got.size(), 1u) << "the shelter's program was not called once";
  EXPECT_EQ(got[0].rfind("new_referral " + referral + " FK-", 0), 0u)
      << got[0] << " (referral " << referral << ")";
  EXPECT_NE(got[0].find(" SHELTER "), std::string::npos) << got[0];
  EXPECT_EQ(got[0].find("Nasreen"), std::string::npos) << "a name reached the hook";
  EXPECT_EQ(got[0].find(*c), std::string::npos) << "the case id instead of its reference";
  // A restart does not call it again for the same referral.
  ASSERT_TRUE(nrm.RestartNode("shelter-a"));
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(lines().size(), 1u);
}

// A referral sent by hand answers with the referral's id (what one acts on next) and the consent
// it relies on, not only the id of the event that carried it (issue 16, item 12).
TEST(E2ePeople, AReferralSentByHandAnswersWithTheReferralAndItsConsent) {
  Nrm nrm(Agencies(), WomenToShelterRules());
  ASSERT_TRUE(nrm.Start());
  v1::IntakeRequest in = AdultWomanSexuallyExploited();
  in.mutable_profile()->set_sex(v1::SEX_MALE);  // not one the rules route
  auto c = nrm.Intake("fia-karachi", in);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const std::string consent = nrm.FirstConsentId("fia-karachi", *c);
  ASSERT_FALSE(consent.empty());
  const v1::Event e = HandReferral(*c, "shelter-a", v1::SERVICE_TYPE_SHELTER, consent);
  const v1::Referral* r = &e.referral_sent().referral();
  auto sent = nrm.Publish("fia-karachi", e);
  ASSERT_TRUE(sent.ok());
  ASSERT_EQ(sent->code(), v1::CONTROL_CODE_OK) << sent->reason();
  EXPECT_EQ(sent->text().rfind("sent referral " + r->referral_id() + " to shelter-a", 0), 0u)
      << sent->text();
  EXPECT_NE(sent->text().find("relying on consent " + consent), std::string::npos);
  EXPECT_NE(sent->json().find("\"referral_id\":\"" + r->referral_id() + "\""), std::string::npos)
      << sent->json();
}

}  // namespace passage::e2e
