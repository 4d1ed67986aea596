#include "core/case_projection.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/case_reference.h"
#include "core/validate.h"
#include "tests/core/test_broker.h"
#include "tests/core/test_events.h"
#include "tests/testing/status_matchers.h"

namespace passage::core {
namespace {

using namespace passage::core::testing;  // NOLINT(google-build-using-namespace)
using passage::v1::Event;
using passage::v1::ReferralStatus;

std::vector<std::string> AccessIds(const passage::v1::CaseState& s) {
  std::vector<std::string> out;
  for (const passage::v1::AccessGrant& g : s.access()) {
    out.push_back(g.agency_id());
  }
  return out;
}

std::vector<passage::v1::Stage> Stages(const passage::v1::CaseState& s) {
  std::vector<passage::v1::Stage> out;
  for (int stage : s.stages()) {
    out.push_back(static_cast<passage::v1::Stage>(stage));
  }
  return out;
}


TEST(CaseProjection, WholeJourneyFromOpeningToCompletedReferral) {
  Broker b;
  ASSERT_OK(b.Publish(CaseOpenedEvent(kFia)));
  EXPECT_EQ(b.state().case_id(), kCaseId);
  EXPECT_EQ(b.state().owner_agency(), kFia);
  EXPECT_EQ(b.state().opened_by(), kFia);
  EXPECT_EQ(b.state().version(), 1u);
  EXPECT_EQ(b.state().last_global_seq(), 101u);
  EXPECT_EQ(Stages(b.state()), std::vector{passage::v1::STAGE_IDENTIFICATION});
  ASSERT_EQ(b.state().access_size(), 1);
  EXPECT_EQ(b.state().access(0).agency_id(), kFia);
  EXPECT_EQ(b.state().access(0).sections_size(), static_cast<int>(AllDataSections().size()));

  Event identification = BaseEvent(kFia);
  identification.mutable_identification_recorded()->set_trafficking_status(
      passage::v1::TRAFFICKING_STATUS_POSSIBLE);
  identification.mutable_identification_recorded()->set_crime_type(passage::v1::CRIME_TYPE_BOTH);
  ASSERT_OK(b.Publish(identification));
  EXPECT_EQ(b.state().trafficking_status(), passage::v1::TRAFFICKING_STATUS_POSSIBLE);
  EXPECT_EQ(b.state().trafficking_status_by(), kFia);
  EXPECT_EQ(b.state().crime_type(), passage::v1::CRIME_TYPE_BOTH);

  ASSERT_OK(b.Publish(ConsentGivenEvent(kFia, ConsentId(1), passage::v1::CONSENT_SCOPE_SERVICES)));
  ASSERT_EQ(b.state().consents_size(), 1);
  EXPECT_NE(b.state().consents(0).given_at_ms(), 0);

  Event sent = ReferralSentEvent(kFia, ReferralId(1), kShelter, passage::v1::SERVICE_TYPE_SHELTER,
                                 ConsentId(1));
  EXPECT_EQ(AudienceOf(b.state(), sent), std::vector<std::string>{kShelter});
  ASSERT_OK(b.Publish(sent));
  EXPECT_EQ(b.referral(1).status(), passage::v1::REFERRAL_STATUS_SENT);
  EXPECT_EQ(b.referral(1).from_agency(), kFia);
  EXPECT_EQ(b.referral(1).case_id(), kCaseId);
  EXPECT_NE(b.referral(1).sent_at_ms(), 0);
  EXPECT_EQ(Stages(b.state()), std::vector{passage::v1::STAGE_REFERRAL});
  EXPECT_EQ(AccessIds(b.state()), std::vector<std::string>{kFia});

  const ReferralStatus steps[] = {passage::v1::REFERRAL_STATUS_RECEIVED,
                                  passage::v1::REFERRAL_STATUS_ACCEPTED,
                                  passage::v1::REFERRAL_STATUS_IN_PROGRESS};
  for (ReferralStatus to : steps) {
    Event t = TransitionEvent(kShelter, ReferralId(1), to,
                              to == passage::v1::REFERRAL_STATUS_RECEIVED
                                  ? passage::v1::ACTOR_ROLE_SYSTEM
                                  : passage::v1::ACTOR_ROLE_CASE_WORKER);
    EXPECT_EQ(AudienceOf(b.state(), t), std::vector<std::string>{kFia});
    ASSERT_OK(b.Publish(t));
    EXPECT_EQ(b.referral(1).status(), to);
  }
  EXPECT_EQ(AccessIds(b.state()), (std::vector<std::string>{kFia, kShelter}));
  const passage::v1::AccessGrant* shelter = FindAccess(b.state(), kShelter);
  ASSERT_NE(shelter, nullptr);
  EXPECT_TRUE(GrantIncludes(*shelter, passage::v1::DATA_SECTION_PROFILE));
  EXPECT_TRUE(GrantIncludes(*shelter, passage::v1::DATA_SECTION_SERVICES));
  EXPECT_FALSE(GrantIncludes(*shelter, passage::v1::DATA_SECTION_PERSONAL));
  ASSERT_EQ(shelter->via_referrals_size(), 1);
  EXPECT_EQ(shelter->via_referrals(0), ReferralId(1));
  EXPECT_EQ(Stages(b.state()), std::vector{passage::v1::STAGE_PROTECTION});

  ASSERT_OK(
      b.Publish(ServiceDeliveredEvent(kShelter, ReferralId(1), passage::v1::SERVICE_TYPE_SHELTER)));
  ASSERT_EQ(b.state().services_size(), 1);
  EXPECT_EQ(b.state().services(0).agency_id(), kShelter);

  ASSERT_OK(
      b.Publish(TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_COMPLETED)));
  const passage::v1::Referral& done = b.referral(1);
  EXPECT_EQ(done.status(), passage::v1::REFERRAL_STATUS_COMPLETED);
  EXPECT_EQ(done.outcome(), "service-plan-closed");
  ASSERT_EQ(done.history_size(), 5);
  ReferralStatus previous = passage::v1::REFERRAL_STATUS_UNSPECIFIED;
  uint64_t previous_seq = 0;
  for (const passage::v1::ReferralTransitionRecord& rec : done.history()) {
    EXPECT_EQ(rec.from(), previous);
    EXPECT_GT(rec.global_seq(), previous_seq);
    EXPECT_NE(rec.at_ms(), 0);
    previous = rec.to();
    previous_seq = rec.global_seq();
  }
  EXPECT_EQ(done.history(0).by_agency(), kFia);
  EXPECT_EQ(done.history(4).by_agency(), kShelter);
  // Completion is terminal: access ends; protection was delivered, so the stage stays.
  EXPECT_EQ(AccessIds(b.state()), std::vector<std::string>{kFia});
  EXPECT_EQ(Stages(b.state()), std::vector{passage::v1::STAGE_PROTECTION});
  EXPECT_EQ(b.state().version(), 9u);
  EXPECT_EQ(b.state().last_global_seq(), 109u);

  // No further move on a terminal referral.
  Status again =
      b.Publish(TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_FAILED));
  ExpectRefused(again, StatusCode::kFailedPrecondition, "referral_transition.to");
  EXPECT_EQ(again.message(), "the referral is COMPLETED, which is final: it cannot be changed any more");
}

TEST(CaseProjection, AcceptedTransferChangesTheOwner) {
  Broker b;
  b.OpenWithConsents();
  Event transfer = ReferralSentEvent(kFia, ReferralId(1), kPolice,
                                     passage::v1::SERVICE_TYPE_INVESTIGATION, ConsentId(2));
  transfer.mutable_referral_sent()->mutable_referral()->set_kind(
      passage::v1::REFERRAL_KIND_TRANSFER);
  ASSERT_OK(b.Publish(transfer));
  ASSERT_OK(b.Publish(TransitionEvent(kPolice, ReferralId(1), passage::v1::REFERRAL_STATUS_RECEIVED,
                                      passage::v1::ACTOR_ROLE_SYSTEM)));
  EXPECT_EQ(b.state().owner_agency(), kFia);
  ASSERT_OK(
      b.Publish(TransitionEvent(kPolice, ReferralId(1), passage::v1::REFERRAL_STATUS_ACCEPTED)));
  EXPECT_EQ(b.state().owner_agency(), kPolice);
  EXPECT_EQ(b.state().opened_by(), kFia);
  EXPECT_EQ(AccessIds(b.state()), std::vector<std::string>{kPolice});
  EXPECT_EQ(b.state().access(0).sections_size(), static_cast<int>(AllDataSections().size()));  // the owner reads everything

  // The old owner may no longer act as owner; the new one may.
  Event update = BaseEvent(kFia);
  *update.mutable_profile_updated()->mutable_profile() = ValidProfile();
  ExpectRefused(b.Publish(update), StatusCode::kPermissionDenied, "actor_agency");
  update.set_actor_agency(kPolice);
  ASSERT_OK(b.Publish(update));
  // ... and the old owner still plays the sender of its transfer.
  Event cancel =
      TransitionEvent(kFia, ReferralId(1), passage::v1::REFERRAL_STATUS_CANCEL_REQUESTED);
  ASSERT_OK(b.Publish(cancel));
}

TEST(CaseProjection, OnlyTheOwnerTransfers) {
  Broker b;
  b.OpenWithConsents();
  b.SendAndAccept(1, kFia, kShelter, passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1));
  Event transfer = ReferralSentEvent(kShelter, ReferralId(2), kLegalAid,
                                     passage::v1::SERVICE_TYPE_LEGAL_AID, ConsentId(1));
  transfer.mutable_referral_sent()->mutable_referral()->set_kind(
      passage::v1::REFERRAL_KIND_TRANSFER);
  ExpectRefused(b.Publish(transfer), StatusCode::kPermissionDenied, "referral_sent.referral.kind");
  // An onward referral (shared access) by the shelter is fine, within its own sections.
  transfer.mutable_referral_sent()->mutable_referral()->set_kind(
      passage::v1::REFERRAL_KIND_REFERRAL);
  ASSERT_OK(b.Publish(transfer));
  Event wider = ReferralSentEvent(kShelter, ReferralId(3), kIom,
                                  passage::v1::SERVICE_TYPE_RETURN_REINTEGRATION, ConsentId(1));
  wider.mutable_referral_sent()->mutable_referral()->add_data_scope(
      passage::v1::DATA_SECTION_PERSONAL);
  ExpectRefused(b.Publish(wider), StatusCode::kPermissionDenied,
                "referral_sent.referral.data_scope[2]");
}

TEST(CaseProjection, TerminalStateRemovesAccessUnlessAnotherLiveReferralGrantsIt) {
  Broker b;
  b.OpenWithConsents();
  b.SendAndAccept(1, kFia, kShelter, passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1));
  Event second = ReferralSentEvent(kFia, ReferralId(2), kShelter,
                                   passage::v1::SERVICE_TYPE_PSYCHOSOCIAL, ConsentId(1));
  second.mutable_referral_sent()->mutable_referral()->clear_data_scope();
  second.mutable_referral_sent()->mutable_referral()->add_data_scope(
      passage::v1::DATA_SECTION_CONSENTS);
  ASSERT_OK(b.Publish(second));
  ASSERT_OK(
      b.Publish(TransitionEvent(kShelter, ReferralId(2), passage::v1::REFERRAL_STATUS_RECEIVED,
                                passage::v1::ACTOR_ROLE_SYSTEM)));
  ASSERT_OK(
      b.Publish(TransitionEvent(kShelter, ReferralId(2), passage::v1::REFERRAL_STATUS_ACCEPTED)));
  const passage::v1::AccessGrant* g = FindAccess(b.state(), kShelter);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->sections_size(), 3);  // PROFILE, CONSENTS, SERVICES
  EXPECT_EQ(g->via_referrals_size(), 2);

  ASSERT_OK(
      b.Publish(TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_FAILED)));
  g = FindAccess(b.state(), kShelter);
  ASSERT_NE(g, nullptr);
  ASSERT_EQ(g->via_referrals_size(), 1);
  EXPECT_EQ(g->via_referrals(0), ReferralId(2));
  ASSERT_EQ(g->sections_size(), 1);
  EXPECT_EQ(g->sections(0), passage::v1::DATA_SECTION_CONSENTS);

  Event cancel =
      TransitionEvent(kFia, ReferralId(2), passage::v1::REFERRAL_STATUS_CANCEL_REQUESTED);
  ASSERT_OK(b.Publish(cancel));
  EXPECT_NE(FindAccess(b.state(), kShelter), nullptr);  // until the recipient confirms
  ASSERT_OK(
      b.Publish(TransitionEvent(kShelter, ReferralId(2), passage::v1::REFERRAL_STATUS_CANCELLED)));
  EXPECT_EQ(FindAccess(b.state(), kShelter), nullptr);
  // The shelter can no longer record anything on the case.
  ExpectRefused(b.Publish(ServiceDeliveredEvent(kShelter, "", passage::v1::SERVICE_TYPE_MEDICAL)),
                StatusCode::kPermissionDenied, "actor_agency");
}

// A personal-data seal opens for the owner and the agencies whose live, accepted referral shares
// PERSONAL, and for nobody else: a key wrapped for a recipient that has not accepted, declined or
// completed would stay in the log for good, so the broker refuses the seal.
TEST(CaseProjection, PersonalDataIsSealedOnlyForTheOwnerAndAgenciesWithLivePersonalAccess) {
  Broker b;
  b.OpenWithConsents();
  auto update = [](const std::vector<std::string>& readers) {
    Event e = BaseEvent(kFia);
    *e.mutable_profile_updated()->mutable_profile() = ValidProfile();
    passage::v1::SealedPersonalData* s = e.mutable_profile_updated()->mutable_personal();
    s->set_scheme(1);
    s->set_nonce(std::string(24, 'n'));
    s->set_ciphertext("sealed");
    for (const auto& id : readers) {
      passage::v1::WrappedKey* w = s->add_wrapped_keys();
      w->set_agency_id(id);
      w->set_sealed_key("wrapped for " + id);
    }
    return e;
  };
  auto send = [&](uint64_t n, const std::string& to, passage::v1::ServiceType service) {
    Event sent = ReferralSentEvent(kFia, ReferralId(n), to, service, ConsentId(1));
    sent.mutable_referral_sent()->mutable_referral()->add_data_scope(
        passage::v1::DATA_SECTION_PERSONAL);
    ASSERT_OK(b.Publish(sent));
    ASSERT_OK(b.Publish(TransitionEvent(to, ReferralId(n), passage::v1::REFERRAL_STATUS_RECEIVED,
                                        passage::v1::ACTOR_ROLE_SYSTEM)));
  };
  const std::string second_key = "profile_updated.personal.wrapped_keys[1].agency_id";
  ASSERT_OK(b.Publish(update({kFia})));
  ASSERT_NO_FATAL_FAILURE(send(1, kShelter, passage::v1::SERVICE_TYPE_SHELTER));
  // Received, not accepted.
  ExpectRefused(b.Publish(update({kFia, kShelter})), StatusCode::kPermissionDenied, second_key);
  ASSERT_OK(
      b.Publish(TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_ACCEPTED)));
  ASSERT_OK(b.Publish(update({kFia, kShelter})));
  // Declined.
  ASSERT_NO_FATAL_FAILURE(send(2, kIom, passage::v1::SERVICE_TYPE_RETURN_REINTEGRATION));
  ASSERT_OK(b.Publish(TransitionEvent(kIom, ReferralId(2), passage::v1::REFERRAL_STATUS_REJECTED)));
  ExpectRefused(b.Publish(update({kFia, kIom})), StatusCode::kPermissionDenied, second_key);
  // Completed: the shelter no longer holds the case.
  ASSERT_OK(
      b.Publish(TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_COMPLETED)));
  ExpectRefused(b.Publish(update({kFia, kShelter})), StatusCode::kPermissionDenied, second_key);
  ASSERT_OK(b.Publish(update({kFia})));
  // A case is opened sealed for its opener alone.
  Broker other;
  Event opened = CaseOpenedEvent(kFia);
  passage::v1::SealedPersonalData* s = opened.mutable_case_opened()->mutable_personal();
  s->set_scheme(1);
  s->set_nonce(std::string(24, 'n'));
  s->set_ciphertext("sealed");
  for (const char* id : {kFia, kShelter}) {
    passage::v1::WrappedKey* w = s->add_wrapped_keys();
    w->set_agency_id(id);
    w->set_sealed_key("k");
  }
  ExpectRefused(other.Publish(opened), StatusCode::kPermissionDenied,
                "case_opened.personal.wrapped_keys[1].agency_id");
}

TEST(CaseProjection, ConsentWithdrawalStopsSharingAndAllowsCancellation) {
  Broker b;
  b.OpenWithConsents();
  b.SendAndAccept(1, kFia, kShelter, passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1));

  // While the consent is in force, the consent flag is refused.
  Event early = TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_CANCELLED);
  early.mutable_referral_transition()->set_consent_withdrawn(true);
  ExpectRefused(b.Publish(early), StatusCode::kFailedPrecondition,
                "referral_transition.consent_withdrawn");

  Event withdrawn = ConsentWithdrawnEvent(kShelter, ConsentId(1));
  EXPECT_EQ(AudienceOf(b.state(), withdrawn), std::vector<std::string>{kFia});
  ASSERT_OK(b.Publish(withdrawn));
  const passage::v1::Consent* c = FindConsent(b.state(), ConsentId(1));
  ASSERT_NE(c, nullptr);
  EXPECT_NE(c->withdrawn_at_ms(), 0);
  // The projection does not cascade: the referral is still accepted until a transition says so.
  EXPECT_EQ(b.referral(1).status(), passage::v1::REFERRAL_STATUS_ACCEPTED);

  // No new sharing under the withdrawn consent.
  Status refused = b.Publish(ReferralSentEvent(kFia, ReferralId(2), kLegalAid,
                                               passage::v1::SERVICE_TYPE_LEGAL_AID, ConsentId(1)));
  ExpectRefused(refused, StatusCode::kFailedPrecondition, "referral_sent.referral.consent_id");
  // Withdrawing twice is refused.
  ExpectRefused(b.Publish(ConsentWithdrawnEvent(kFia, ConsentId(1))),
                StatusCode::kFailedPrecondition, "consent_withdrawn.consent_id");
  ExpectRefused(b.Publish(ConsentWithdrawnEvent(kFia, ConsentId(9))),
                StatusCode::kFailedPrecondition, "consent_withdrawn.consent_id");

  // The recipient (either side may) cancels because consent was withdrawn.
  ASSERT_OK(b.Publish(early));
  EXPECT_EQ(b.referral(1).status(), passage::v1::REFERRAL_STATUS_CANCELLED);
  EXPECT_EQ(FindAccess(b.state(), kShelter), nullptr);
}

TEST(CaseProjection, RouterCascadesAWithdrawal) {
  Broker b;
  b.OpenWithConsents();
  ASSERT_OK(b.Publish(ReferralSentEvent(kFia, ReferralId(1), kShelter,
                                        passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1))));
  ASSERT_OK(b.Publish(ConsentWithdrawnEvent(kFia, ConsentId(1))));
  Event cancel = TransitionEvent(kRouter, ReferralId(1), passage::v1::REFERRAL_STATUS_CANCELLED,
                                 passage::v1::ACTOR_ROLE_SYSTEM);
  cancel.mutable_referral_transition()->set_consent_withdrawn(true);
  EXPECT_EQ(AudienceOf(b.state(), cancel), (std::vector<std::string>{kFia, kShelter}));
  ASSERT_OK(b.Publish(cancel));
  EXPECT_EQ(b.referral(1).status(), passage::v1::REFERRAL_STATUS_CANCELLED);
}

TEST(CaseProjection, ReferralWithoutMatchingConsentIsRefused) {
  Broker b;
  b.OpenWithConsents();
  const std::string field = "referral_sent.referral.consent_id";
  // Unknown consent.
  ExpectRefused(b.Publish(ReferralSentEvent(kFia, ReferralId(1), kShelter,
                                            passage::v1::SERVICE_TYPE_SHELTER, ConsentId(7))),
                StatusCode::kFailedPrecondition, field);
  // A SERVICES consent does not cover the prosecutor...
  ExpectRefused(b.Publish(ReferralSentEvent(kFia, ReferralId(1), kProsecutor,
                                            passage::v1::SERVICE_TYPE_PROSECUTION, ConsentId(1))),
                StatusCode::kFailedPrecondition, field);
  // ... a LAW_ENFORCEMENT one does, but not a shelter.
  ASSERT_OK(b.Publish(ReferralSentEvent(kFia, ReferralId(1), kProsecutor,
                                        passage::v1::SERVICE_TYPE_PROSECUTION, ConsentId(2))));
  ExpectRefused(b.Publish(ReferralSentEvent(kFia, ReferralId(2), kShelter,
                                            passage::v1::SERVICE_TYPE_SHELTER, ConsentId(2))),
                StatusCode::kFailedPrecondition, field);
  // A consent naming agencies covers only those (or the types it names).
  Event named =
      ConsentGivenEvent(kFia, ConsentId(3), passage::v1::CONSENT_SCOPE_SHARE_WITH_AGENCIES);
  named.mutable_consent_given()->mutable_consent()->add_agency_ids(kLegalAid);
  named.mutable_consent_given()->mutable_consent()->add_agency_types(
      passage::v1::AGENCY_TYPE_INTERNATIONAL_ORGANISATION);
  ASSERT_OK(b.Publish(named));
  ExpectRefused(b.Publish(ReferralSentEvent(kFia, ReferralId(2), kShelter,
                                            passage::v1::SERVICE_TYPE_SHELTER, ConsentId(3))),
                StatusCode::kFailedPrecondition, field);
  ASSERT_OK(b.Publish(ReferralSentEvent(kFia, ReferralId(2), kLegalAid,
                                        passage::v1::SERVICE_TYPE_LEGAL_AID, ConsentId(3))));
  ASSERT_OK(b.Publish(ReferralSentEvent(
      kFia, ReferralId(3), kIom, passage::v1::SERVICE_TYPE_RETURN_REINTEGRATION, ConsentId(3))));
  // An INTERVIEW consent allows no sharing.
  ASSERT_OK(b.Publish(ConsentGivenEvent(kFia, ConsentId(4), passage::v1::CONSENT_SCOPE_INTERVIEW)));
  ExpectRefused(b.Publish(ReferralSentEvent(kFia, ReferralId(4), kShelter,
                                            passage::v1::SERVICE_TYPE_SHELTER, ConsentId(4))),
                StatusCode::kFailedPrecondition, field);
}

Event OverrideReferral(passage::v1::ActorRole acting, passage::v1::ActorRole override_role) {
  Event e = ReferralSentEvent(kFia, ReferralId(1), kShelter, passage::v1::SERVICE_TYPE_SHELTER, "");
  e.set_actor_role(acting);
  passage::v1::ConsentOverride* o =
      e.mutable_referral_sent()->mutable_referral()->mutable_consent_override();
  o->set_role(override_role);
  o->set_reason("child at immediate risk of harm");
  return e;
}

TEST(CaseProjection, ConsentOverrideNeedsAnAllowedRole) {
  Broker b;
  ASSERT_OK(b.Publish(CaseOpenedEvent(kFia)));
  const std::string field = "referral_sent.referral.consent_override.role";
  Status s = b.Publish(
      OverrideReferral(passage::v1::ACTOR_ROLE_CASE_WORKER, passage::v1::ACTOR_ROLE_CASE_WORKER));
  ExpectRefused(s, StatusCode::kPermissionDenied, field);
  EXPECT_EQ(s.message(),
            "role CASE_WORKER may not override consent for agency 'fia-karachi' (allowed: "
            "SUPERVISOR)");
  // Claiming a role one is not acting in.
  ExpectRefused(b.Publish(OverrideReferral(passage::v1::ACTOR_ROLE_CASE_WORKER,
                                           passage::v1::ACTOR_ROLE_SUPERVISOR)),
                StatusCode::kPermissionDenied, field);
  ASSERT_OK(b.Publish(
      OverrideReferral(passage::v1::ACTOR_ROLE_SUPERVISOR, passage::v1::ACTOR_ROLE_SUPERVISOR)));
  EXPECT_EQ(b.referral(1).consent_override().reason(), "child at immediate risk of harm");
  // A consent-withdrawn cancellation of an override referral needs some withdrawal in the case.
  Event cancel = TransitionEvent(kFia, ReferralId(1), passage::v1::REFERRAL_STATUS_CANCELLED);
  cancel.mutable_referral_transition()->set_consent_withdrawn(true);
  ExpectRefused(b.Publish(cancel), StatusCode::kFailedPrecondition,
                "referral_transition.consent_withdrawn");
}

TEST(CaseProjection, WrongAgenciesAreRefused) {
  Broker b;
  // Only a registered first responder opens a case.
  Event by_shelter = CaseOpenedEvent(kShelter);
  ExpectRefused(b.Publish(by_shelter), StatusCode::kPermissionDenied, "actor_agency");
  ExpectRefused(b.Publish(CaseOpenedEvent("unknown-agency")), StatusCode::kPermissionDenied,
                "actor_agency");
  b.OpenWithConsents();
  // No access: no referral, no consent, no proceedings.
  ExpectRefused(b.Publish(ReferralSentEvent(kShelter, ReferralId(1), kLegalAid,
                                            passage::v1::SERVICE_TYPE_LEGAL_AID, ConsentId(1))),
                StatusCode::kPermissionDenied, "referral_sent.referral.from_agency");
  ExpectRefused(
      b.Publish(ConsentGivenEvent(kShelter, ConsentId(5), passage::v1::CONSENT_SCOPE_SERVICES)),
      StatusCode::kPermissionDenied, "actor_agency");
  ExpectRefused(
      b.Publish(ProceedingEvent(kProsecutor, passage::v1::PROCEEDING_MILESTONE_CHARGE_FILED)),
      StatusCode::kPermissionDenied, "actor_agency");
  // Sending on another's behalf is for the system only.
  Event on_behalf = ReferralSentEvent(kPolice, ReferralId(1), kShelter,
                                      passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1));
  on_behalf.mutable_referral_sent()->mutable_referral()->set_from_agency(kFia);
  ExpectRefused(b.Publish(on_behalf), StatusCode::kPermissionDenied,
                "referral_sent.referral.from_agency");

  ASSERT_OK(b.Publish(ReferralSentEvent(kFia, ReferralId(1), kShelter,
                                        passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1))));
  // A third agency cannot move the referral.
  ExpectRefused(
      b.Publish(TransitionEvent(kLegalAid, ReferralId(1), passage::v1::REFERRAL_STATUS_RECEIVED)),
      StatusCode::kPermissionDenied, "actor_agency");
  // Nor can a third agency claiming the SYSTEM role without being a system principal.
  ExpectRefused(
      b.Publish(TransitionEvent(kLegalAid, ReferralId(1), passage::v1::REFERRAL_STATUS_EXPIRED,
                                passage::v1::ACTOR_ROLE_SYSTEM)),
      StatusCode::kPermissionDenied, "actor_agency");
  ASSERT_OK(
      b.Publish(TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_RECEIVED,
                                passage::v1::ACTOR_ROLE_SYSTEM)));
  // The sender cannot accept for the recipient.
  Status s = b.Publish(TransitionEvent(kFia, ReferralId(1), passage::v1::REFERRAL_STATUS_ACCEPTED));
  ExpectRefused(s, StatusCode::kFailedPrecondition, "referral_transition.to");
  EXPECT_EQ(s.message(), "only the recipient (shelter-ngo) may accept a referral");
  // Rejection needs a reason (caught by validation before the state machine).
  Event reject = TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_REJECTED);
  reject.mutable_referral_transition()->clear_reason();
  ExpectRefused(b.Publish(reject), StatusCode::kInvalidArgument, "referral_transition.reason");
  // Only the owner updates the profile, records the identification or closes the case.
  Event close = BaseEvent(kShelter);
  close.mutable_case_closed()->set_reason("done");
  close.set_actor_role(passage::v1::ACTOR_ROLE_SUPERVISOR);  // closing is a supervisor's call
  ExpectRefused(b.Publish(close), StatusCode::kPermissionDenied, "actor_agency");
  // An unknown referral.
  ExpectRefused(
      b.Publish(TransitionEvent(kShelter, ReferralId(9), passage::v1::REFERRAL_STATUS_ACCEPTED)),
      StatusCode::kFailedPrecondition, "referral_transition.referral_id");
}

TEST(CaseProjection, SystemExpiresAndSendsOnBehalf) {
  Broker b;
  b.OpenWithConsents();
  Event on_behalf = ReferralSentEvent(kRouter, ReferralId(1), kShelter,
                                      passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1));
  on_behalf.set_actor_role(passage::v1::ACTOR_ROLE_SYSTEM);
  on_behalf.mutable_referral_sent()->mutable_referral()->set_from_agency(kFia);
  EXPECT_EQ(AudienceOf(b.state(), on_behalf), (std::vector<std::string>{kFia, kShelter}));
  ASSERT_OK(b.Publish(on_behalf));
  EXPECT_EQ(b.referral(1).from_agency(), kFia);
  EXPECT_EQ(b.referral(1).history(0).by_agency(), kRouter);
  // The sender cannot expire its own referral; the system can.
  ExpectRefused(b.Publish(TransitionEvent(kFia, ReferralId(1), passage::v1::REFERRAL_STATUS_EXPIRED,
                                          passage::v1::ACTOR_ROLE_SYSTEM)),
                StatusCode::kFailedPrecondition, "referral_transition.to");
  ASSERT_OK(b.Publish(TransitionEvent(kRouter, ReferralId(1), passage::v1::REFERRAL_STATUS_EXPIRED,
                                      passage::v1::ACTOR_ROLE_SYSTEM)));
  EXPECT_EQ(b.referral(1).status(), passage::v1::REFERRAL_STATUS_EXPIRED);
  // Escalation: a new referral whose parent is the expired one.
  Event escalation = ReferralSentEvent(kFia, ReferralId(2), kLegalAid,
                                       passage::v1::SERVICE_TYPE_LEGAL_AID, ConsentId(1));
  escalation.mutable_referral_sent()->mutable_referral()->set_parent_referral_id(ReferralId(1));
  ASSERT_OK(b.Publish(escalation));
  escalation.mutable_referral_sent()->mutable_referral()->set_referral_id(ReferralId(3));
  escalation.mutable_referral_sent()->mutable_referral()->set_to_agency(kIom);
  escalation.mutable_referral_sent()->mutable_referral()->set_parent_referral_id(ReferralId(8));
  ExpectRefused(b.Publish(escalation), StatusCode::kFailedPrecondition,
                "referral_sent.referral.parent_referral_id");
}

TEST(CaseProjection, DuplicateAndLiveDuplicateReferralsAreRefused) {
  Broker b;
  b.OpenWithConsents();
  ASSERT_OK(b.Publish(ReferralSentEvent(kFia, ReferralId(1), kShelter,
                                        passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1))));
  ExpectRefused(b.Publish(ReferralSentEvent(kFia, ReferralId(1), kLegalAid,
                                            passage::v1::SERVICE_TYPE_LEGAL_AID, ConsentId(1))),
                StatusCode::kFailedPrecondition, "referral_sent.referral.referral_id");
  ExpectRefused(b.Publish(ReferralSentEvent(kFia, ReferralId(2), kShelter,
                                            passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1))),
                StatusCode::kFailedPrecondition, "referral_sent.referral.to_agency");
  ExpectRefused(b.Publish(ReferralSentEvent(kFia, ReferralId(2), "nobody-registered",
                                            passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1))),
                StatusCode::kFailedPrecondition, "referral_sent.referral.to_agency");
}

TEST(CaseProjection, ExpectedCaseVersionConflict) {
  Broker b;
  Event open = CaseOpenedEvent(kFia);
  open.set_expected_case_version(0);
  ASSERT_OK(b.Publish(open));
  Event consent = ConsentGivenEvent(kFia, ConsentId(1), passage::v1::CONSENT_SCOPE_SERVICES);
  consent.set_expected_case_version(1);
  ASSERT_OK(b.Publish(consent));
  Event stale = ConsentGivenEvent(kFia, ConsentId(2), passage::v1::CONSENT_SCOPE_SERVICES);
  stale.set_expected_case_version(1);
  Status s = b.Publish(stale);
  ExpectRefused(s, StatusCode::kFailedPrecondition, "expected_case_version");
  EXPECT_EQ(s.message(),
            "the case is at version 2, the event expected version 1; read the case again "
            "(CaseEventsRequest gives its version) and decide again");
  stale.set_expected_case_version(2);
  ASSERT_OK(b.Publish(stale));
}

// Reading a case records an access, which takes a case seq but is not a change: a writer who
// read version 3 may still write at version 3 after any number of reads (issue 16, item 2).
TEST(CaseProjection, AccessRecordsDoNotRaiseTheVersionWritersCompare) {
  Broker b;
  ASSERT_OK(b.Publish(CaseOpenedEvent(kFia)));
  ASSERT_OK(b.Publish(ConsentGivenEvent(kFia, ConsentId(1), passage::v1::CONSENT_SCOPE_SERVICES)));
  const uint64_t seen = b.state().content_version();
  EXPECT_EQ(seen, 2u);
  Event read = BaseEvent(kFia, passage::v1::ACTOR_ROLE_CASE_WORKER);
  read.mutable_record_accessed()->add_sections(passage::v1::DATA_SECTION_PROFILE);
  read.mutable_record_accessed()->set_purpose("journey view");
  ASSERT_OK(b.Publish(read));
  ASSERT_OK(b.Publish(read));  // read twice
  EXPECT_GT(b.state().version(), seen);
  EXPECT_EQ(b.state().content_version(), seen);
  Event change = ConsentGivenEvent(kFia, ConsentId(2), passage::v1::CONSENT_SCOPE_SERVICES);
  change.set_expected_case_version(seen);
  ASSERT_OK(b.Publish(change));
  EXPECT_EQ(b.state().content_version(), b.state().version());
}

TEST(CaseProjection, CaseLifecycleRules) {
  Broker b;
  ExpectRefused(
      b.Publish(ConsentGivenEvent(kFia, ConsentId(1), passage::v1::CONSENT_SCOPE_SERVICES)),
      StatusCode::kFailedPrecondition, "case_id");
  b.OpenWithConsents();
  ExpectRefused(b.Publish(CaseOpenedEvent(kFia)), StatusCode::kFailedPrecondition, "case_opened");
  Event other_case = ConsentGivenEvent(kFia, ConsentId(5), passage::v1::CONSENT_SCOPE_SERVICES);
  other_case.set_case_id(ReferralId(77));
  ExpectRefused(b.Publish(other_case), StatusCode::kInvalidArgument, "case_id");
  ExpectRefused(
      b.Publish(ConsentGivenEvent(kFia, ConsentId(1), passage::v1::CONSENT_SCOPE_SERVICES)),
      StatusCode::kFailedPrecondition, "consent_given.consent.consent_id");

  ASSERT_OK(b.Publish(ReferralSentEvent(kFia, ReferralId(1), kShelter,
                                        passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1))));
  Event close = BaseEvent(kFia);
  close.mutable_case_closed()->set_reason("reintegrated");
  close.set_actor_role(passage::v1::ACTOR_ROLE_SUPERVISOR);  // closing is a supervisor's call
  Event closing = close;
  EXPECT_EQ(AudienceOf(b.state(), closing), std::vector<std::string>{});
  ASSERT_OK(b.Publish(close));
  EXPECT_TRUE(b.state().closed());
  EXPECT_EQ(Stages(b.state()), std::vector{passage::v1::STAGE_CLOSED});
  // Closed: nothing new, but live referrals can still be wound down and consent withdrawn.
  ExpectRefused(b.Publish(ReferralSentEvent(kFia, ReferralId(2), kLegalAid,
                                            passage::v1::SERVICE_TYPE_LEGAL_AID, ConsentId(1))),
                StatusCode::kFailedPrecondition, "referral_sent");
  ASSERT_OK(
      b.Publish(TransitionEvent(kFia, ReferralId(1), passage::v1::REFERRAL_STATUS_CANCELLED)));
  ASSERT_OK(b.Publish(ConsentWithdrawnEvent(kFia, ConsentId(2))));
}

TEST(CaseProjection, OnHoldReturnsToTheStateItWasHeldFrom) {
  Broker b;
  b.OpenWithConsents();
  ASSERT_OK(b.Publish(ReferralSentEvent(kFia, ReferralId(1), kShelter,
                                        passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1))));
  ASSERT_OK(
      b.Publish(TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_RECEIVED,
                                passage::v1::ACTOR_ROLE_SYSTEM)));
  ASSERT_OK(
      b.Publish(TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_ON_HOLD)));
  EXPECT_EQ(Stages(b.state()), std::vector{passage::v1::STAGE_REFERRAL});
  EXPECT_EQ(FindAccess(b.state(), kShelter), nullptr);  // held before acceptance: no access
  ExpectRefused(
      b.Publish(TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_ACCEPTED)),
      StatusCode::kFailedPrecondition, "referral_transition.to");
  ASSERT_OK(
      b.Publish(TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_RECEIVED)));
  ASSERT_OK(
      b.Publish(TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_ACCEPTED)));
  ASSERT_OK(
      b.Publish(TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_ON_HOLD)));
  EXPECT_NE(FindAccess(b.state(), kShelter), nullptr);  // held after acceptance: access kept
  ExpectRefused(
      b.Publish(TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_RECEIVED)),
      StatusCode::kFailedPrecondition, "referral_transition.to");
  ASSERT_OK(
      b.Publish(TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_ACCEPTED)));
}

TEST(CaseProjection, ServicesUnderAReferralBelongToItsRecipientWhileAccepted) {
  Broker b;
  b.OpenWithConsents();
  ASSERT_OK(b.Publish(ReferralSentEvent(kFia, ReferralId(1), kShelter,
                                        passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1))));
  ExpectRefused(
      b.Publish(ServiceDeliveredEvent(kFia, ReferralId(1), passage::v1::SERVICE_TYPE_SHELTER)),
      StatusCode::kPermissionDenied, "service_delivered.referral_id");
  ASSERT_OK(
      b.Publish(TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_RECEIVED,
                                passage::v1::ACTOR_ROLE_SYSTEM)));
  // Received but not accepted: no access yet.
  ExpectRefused(
      b.Publish(ServiceDeliveredEvent(kShelter, ReferralId(1), passage::v1::SERVICE_TYPE_SHELTER)),
      StatusCode::kPermissionDenied, "actor_agency");
  ASSERT_OK(
      b.Publish(TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_ACCEPTED)));
  Event service = ServiceDeliveredEvent(kShelter, ReferralId(1), passage::v1::SERVICE_TYPE_SHELTER);
  EXPECT_EQ(AudienceOf(b.state(), service), std::vector<std::string>{kFia});
  ASSERT_OK(b.Publish(service));
  // The owner may record a service of its own without a referral.
  ASSERT_OK(b.Publish(ServiceDeliveredEvent(kFia, "", passage::v1::SERVICE_TYPE_INTERPRETATION)));
  EXPECT_EQ(b.state().services_size(), 2);
}

TEST(CaseProjection, RecordAccessedIsLimitedToGrantedSections) {
  Broker b;
  b.OpenWithConsents();
  b.SendAndAccept(1, kFia, kShelter, passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1));
  Event read = BaseEvent(kShelter);
  read.mutable_record_accessed()->add_sections(passage::v1::DATA_SECTION_PROFILE);
  read.mutable_record_accessed()->set_purpose("delivery");
  EXPECT_EQ(AudienceOf(b.state(), read), std::vector<std::string>{});
  ASSERT_OK(b.Publish(read));
  read.mutable_record_accessed()->add_sections(passage::v1::DATA_SECTION_PERSONAL);
  ExpectRefused(b.Publish(read), StatusCode::kPermissionDenied, "record_accessed.sections[1]");
  read.set_actor_agency(kLegalAid);
  ExpectRefused(b.Publish(read), StatusCode::kPermissionDenied, "actor_agency");
  read.set_actor_agency(kOmbudsman);
  read.set_actor_role(passage::v1::ACTOR_ROLE_AUDITOR);
  ASSERT_OK(b.Publish(read));
}

TEST(CaseProjection, AudienceFollowsSections) {
  Broker b;
  b.OpenWithConsents();
  b.SendAndAccept(1, kFia, kShelter, passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1));
  Event legal = ReferralSentEvent(kFia, ReferralId(2), kLegalAid,
                                  passage::v1::SERVICE_TYPE_LEGAL_AID, ConsentId(1));
  legal.mutable_referral_sent()->mutable_referral()->clear_data_scope();
  legal.mutable_referral_sent()->mutable_referral()->add_data_scope(
      passage::v1::DATA_SECTION_PROCEEDINGS);
  ASSERT_OK(b.Publish(legal));
  ASSERT_OK(
      b.Publish(TransitionEvent(kLegalAid, ReferralId(2), passage::v1::REFERRAL_STATUS_RECEIVED,
                                passage::v1::ACTOR_ROLE_SYSTEM)));
  ASSERT_OK(
      b.Publish(TransitionEvent(kLegalAid, ReferralId(2), passage::v1::REFERRAL_STATUS_ACCEPTED)));

  Event update = BaseEvent(kFia);
  *update.mutable_profile_updated()->mutable_profile() = ValidProfile();
  EXPECT_EQ(AudienceOf(b.state(), update), std::vector<std::string>{kShelter});
  Event fir = ProceedingEvent(kFia, passage::v1::PROCEEDING_MILESTONE_FIR_REGISTERED);
  EXPECT_EQ(AudienceOf(b.state(), fir), std::vector<std::string>{kLegalAid});
  Event consent = ConsentGivenEvent(kFia, ConsentId(8), passage::v1::CONSENT_SCOPE_STATISTICS);
  EXPECT_EQ(AudienceOf(b.state(), consent), std::vector<std::string>{});
  Event back = BaseEvent(kShelter);
  back.mutable_return_recorded()->set_country("AF");
  EXPECT_EQ(AudienceOf(b.state(), back), (std::vector<std::string>{kFia, kLegalAid}));
  Event config = BaseEvent(kFia);
  config.clear_case_id();
  config.mutable_key_rotated()->set_agency_id(kFia);
  EXPECT_EQ(AudienceOf(b.state(), config), std::vector<std::string>{});
  ExpectRefused(b.projection().Check(config, b.agencies()), StatusCode::kInvalidArgument,
                "key_rotated");
}

TEST(CaseProjection, StagesFollowTheJourney) {
  Broker b;
  b.OpenWithConsents();
  ASSERT_OK(b.Publish(ProceedingEvent(kFia, passage::v1::PROCEEDING_MILESTONE_FIR_REGISTERED)));
  EXPECT_EQ(Stages(b.state()), std::vector{passage::v1::STAGE_CRIMINAL_JUSTICE});
  b.SendAndAccept(1, kFia, kShelter, passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1));
  EXPECT_EQ(Stages(b.state()),
            (std::vector{passage::v1::STAGE_PROTECTION, passage::v1::STAGE_CRIMINAL_JUSTICE}));
  ASSERT_OK(b.Publish(ReferralSentEvent(
      kFia, ReferralId(2), kIom, passage::v1::SERVICE_TYPE_RETURN_REINTEGRATION, ConsentId(1))));
  EXPECT_EQ(Stages(b.state()),
            (std::vector{passage::v1::STAGE_REFERRAL, passage::v1::STAGE_PROTECTION,
                         passage::v1::STAGE_CRIMINAL_JUSTICE}));
  ASSERT_OK(b.Publish(ProceedingEvent(kFia, passage::v1::PROCEEDING_MILESTONE_VERDICT_CONVICTION)));
  ASSERT_OK(
      b.Publish(ProceedingEvent(kFia, passage::v1::PROCEEDING_MILESTONE_COMPENSATION_ORDERED)));
  EXPECT_EQ(Stages(b.state()),
            (std::vector{passage::v1::STAGE_REFERRAL, passage::v1::STAGE_PROTECTION}));
  Event back = BaseEvent(kFia);
  back.mutable_return_recorded()->set_country("afg");
  ASSERT_OK(b.Publish(back));
  EXPECT_EQ(b.state().return_country(), "AF");
  EXPECT_NE(b.state().returned_at_ms(), 0);
  EXPECT_EQ(Stages(b.state()),
            (std::vector{passage::v1::STAGE_REFERRAL, passage::v1::STAGE_PROTECTION,
                         passage::v1::STAGE_RETURN_REINTEGRATION}));
}

TEST(CaseProjection, StoresNormalisedProfile) {
  Broker b;
  Event open = CaseOpenedEvent(kFia);
  passage::v1::Profile* p = open.mutable_case_opened()->mutable_profile();
  p->set_citizenship(0, "pak");
  p->add_citizenship("AFG");
  p->set_country_of_exploitation("are");
  p->set_province_of_identification("pk-sd");
  p->clear_age_band();
  p->clear_majority_at_identification();
  p->clear_year_of_registration();
  ASSERT_OK(b.Publish(open));
  const passage::v1::Profile& stored = b.state().profile();
  EXPECT_EQ(stored.citizenship(0), "PK");
  EXPECT_EQ(stored.citizenship(1), "AF");
  EXPECT_EQ(stored.country_of_exploitation(), "AE");
  EXPECT_EQ(stored.province_of_identification(), "PK-SD");
  EXPECT_EQ(stored.age_band(), passage::v1::AGE_BAND_9_17);
  EXPECT_EQ(stored.majority_at_identification(), passage::v1::MAJORITY_STATUS_MINOR);
  EXPECT_EQ(stored.year_of_registration(), 2024);
}

// A source that recorded no year (a CTDC row without yearOfRegistration) keeps it unknown: the
// opening's year is not filled in, and statistics and exports say unknown.
TEST(CaseProjection, AnUnknownYearOfRegistrationStaysUnknown) {
  Broker b;
  Event open = CaseOpenedEvent(kFia);
  passage::v1::Profile* p = open.mutable_case_opened()->mutable_profile();
  p->clear_year_of_registration();
  p->set_year_of_registration_unknown(true);
  ASSERT_OK(b.Publish(open));
  EXPECT_EQ(b.state().profile().year_of_registration(), 0);
  EXPECT_TRUE(b.state().profile().year_of_registration_unknown());

  // Both at once is refused, naming the flag.
  Broker c;
  Event both = CaseOpenedEvent(kFia);
  both.mutable_case_opened()->mutable_profile()->set_year_of_registration(2024);
  both.mutable_case_opened()->mutable_profile()->set_year_of_registration_unknown(true);
  Status s = c.Publish(both);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.field().find("year_of_registration_unknown"), std::string::npos) << s.ToString();
}

// The same log folded twice, and replayed from the stored envelope bytes, gives identical bytes.
TEST(CaseProjection, FoldIsDeterministic) {
  Broker b;
  b.OpenWithConsents();
  b.SendAndAccept(1, kFia, kShelter, passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1));
  b.SendAndAccept(2, kFia, kProsecutor, passage::v1::SERVICE_TYPE_PROSECUTION, ConsentId(2));
  ASSERT_OK(
      b.Publish(ServiceDeliveredEvent(kShelter, ReferralId(1), passage::v1::SERVICE_TYPE_MEDICAL)));
  ASSERT_OK(
      b.Publish(ProceedingEvent(kProsecutor, passage::v1::PROCEEDING_MILESTONE_CHARGE_FILED)));
  ASSERT_OK(b.Publish(ConsentWithdrawnEvent(kFia, ConsentId(1))));
  ASSERT_OK(
      b.Publish(TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_COMPLETED)));

  CaseProjection first;
  CaseProjection second;
  for (const passage::v1::Envelope& env : b.log()) {
    Event e;
    ASSERT_TRUE(e.ParseFromString(env.event()));
    first.Apply(env, e);
  }
  for (const passage::v1::Envelope& env : b.log()) {
    Event e;
    ASSERT_TRUE(e.ParseFromString(env.event()));
    second.Apply(env, e);
  }
  EXPECT_EQ(first.SerializeDeterministic(), second.SerializeDeterministic());
  EXPECT_EQ(first.SerializeDeterministic(), b.projection().SerializeDeterministic());
  EXPECT_FALSE(first.SerializeDeterministic().empty());
  // A projection resumed from a snapshot continues identically.
  CaseProjection resumed(first.state());
  EXPECT_EQ(resumed.SerializeDeterministic(), first.SerializeDeterministic());
}

// The broker's lean projection differs from a full one only in the sealed personal data.
TEST(CaseProjection, WithoutPersonalDataKeepsEverythingButTheSealedData) {
  Broker b;
  Event open = CaseOpenedEvent(kFia);
  passage::v1::SealedPersonalData* sealed = open.mutable_case_opened()->mutable_personal();
  sealed->set_scheme(1);
  sealed->set_ciphertext(std::string(96, 'c'));
  sealed->set_nonce(std::string(24, 'n'));
  auto* key = sealed->add_wrapped_keys();
  key->set_agency_id(kFia);
  key->set_sealed_key(std::string(80, 'k'));
  ASSERT_OK(b.Publish(open));
  ASSERT_OK(b.Publish(ConsentGivenEvent(kFia, ConsentId(1), passage::v1::CONSENT_SCOPE_SERVICES)));
  b.SendAndAccept(1, kFia, kShelter, passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1));

  CaseProjection full;
  CaseProjection lean = CaseProjection::WithoutPersonalData();
  for (const passage::v1::Envelope& env : b.log()) {
    Event e;
    ASSERT_TRUE(e.ParseFromString(env.event()));
    full.Apply(env, e);
    lean.Apply(env, e);
  }
  ASSERT_TRUE(full.state().has_personal());
  EXPECT_FALSE(lean.state().has_personal());
  passage::v1::CaseState without = full.state();
  without.clear_personal();
  EXPECT_EQ(CaseProjection(without).SerializeDeterministic(), lean.SerializeDeterministic());
}

// Apply is total: events that Check would refuse still neither crash nor corrupt the state.
TEST(CaseProjection, ApplyNeverFails) {
  CaseProjection p;
  passage::v1::Envelope env;
  env.set_global_seq(1);
  env.set_case_seq(1);
  std::vector<Event> garbage;
  garbage.push_back(
      TransitionEvent(kShelter, ReferralId(1), passage::v1::REFERRAL_STATUS_ACCEPTED));
  garbage.push_back(ConsentWithdrawnEvent(kFia, ConsentId(1)));
  garbage.push_back(Event());
  Event weird = CaseOpenedEvent(kFia);
  weird.mutable_case_opened()->mutable_profile()->add_citizenship("not a country");
  weird.mutable_case_opened()->mutable_profile()->set_age_years(4000);
  garbage.push_back(weird);
  garbage.push_back(weird);  // a second opening
  Event sent = ReferralSentEvent(kFia, ReferralId(1), kShelter, passage::v1::SERVICE_TYPE_SHELTER,
                                 ConsentId(1));
  sent.mutable_referral_sent()->mutable_referral()->add_data_scope(
      static_cast<passage::v1::DataSection>(99));
  garbage.push_back(sent);
  garbage.push_back(sent);
  Event bad_to = TransitionEvent(kShelter, ReferralId(1), static_cast<ReferralStatus>(55));
  garbage.push_back(bad_to);
  Event back = BaseEvent(kFia);
  back.mutable_return_recorded()->set_country("??");
  garbage.push_back(back);
  for (const Event& e : garbage) {
    p.Apply(env, e);
    env.set_case_seq(env.case_seq() + 1);
    env.set_global_seq(env.global_seq() + 1);
    (void)AudienceOf(p.state(), e);
  }
  EXPECT_EQ(p.state().version(), garbage.size());
  EXPECT_EQ(p.state().owner_agency(), kFia);
  EXPECT_EQ(p.state().referrals_size(), 1);
}

TEST(AgencyDirectory, FromRegistryValidatesAndRefusesDuplicates) {
  passage::v1::AgencyRegistry registry;
  *registry.add_agencies() = MakeAgency(kFia, passage::v1::AGENCY_TYPE_LAW_ENFORCEMENT);
  *registry.add_agencies() = MakeAgency(kShelter, passage::v1::AGENCY_TYPE_SHELTER);
  Result<InMemoryAgencyDirectory> d = InMemoryAgencyDirectory::FromRegistry(registry);
  ASSERT_OK(d);
  EXPECT_EQ(d->size(), 2u);
  ASSERT_NE(d->Find(kShelter), nullptr);
  EXPECT_EQ(d->Find("nobody"), nullptr);
  EXPECT_FALSE(d->IsSystemPrincipal(kFia));

  *registry.add_agencies() = MakeAgency(kFia, passage::v1::AGENCY_TYPE_NGO);
  Result<InMemoryAgencyDirectory> dup = InMemoryAgencyDirectory::FromRegistry(registry);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().field(), "agencies[2].id");
  registry.mutable_agencies(2)->set_id("Bad Id");
  EXPECT_EQ(InMemoryAgencyDirectory::FromRegistry(registry).status().field(), "agencies[2].id");
}

// A case reference must carry the opening agency's own code; the referrals repeat it so an inbox
// can show it.
TEST(CaseProjection, ReferenceCarriesTheOpenersCodeAndReachesItsReferrals) {
  Broker other;
  Event theirs = CaseOpenedEvent(kFia);
  theirs.mutable_case_opened()->set_reference(FormatCaseReference("SDPOL", 2026, 1));
  ExpectRefused(other.Publish(theirs), StatusCode::kPermissionDenied, "case_opened.reference");

  Broker b;
  Event odd = CaseOpenedEvent(kFia);
  odd.mutable_case_opened()->set_reference("fk-26-1-" +
                                           FormatCaseReference("FK", 2026, 1).substr(12));
  ExpectRefused(b.Publish(odd), StatusCode::kInvalidArgument, "case_opened.reference");

  Event opened = CaseOpenedEvent(kFia);
  const std::string ref = FormatCaseReference("FK", 2026, 1);  // "fia-karachi" -> FK
  opened.mutable_case_opened()->set_reference(ref);
  ASSERT_OK(b.Publish(opened));
  EXPECT_EQ(b.state().reference(), ref);
  ASSERT_OK(b.Publish(ConsentGivenEvent(kFia, ConsentId(1), passage::v1::CONSENT_SCOPE_SERVICES)));
  ASSERT_OK(b.Publish(ReferralSentEvent(kFia, ReferralId(1), kShelter,
                                        passage::v1::SERVICE_TYPE_SHELTER, ConsentId(1))));
  EXPECT_EQ(b.referral(1).case_reference(), ref);
}

}  // namespace
}  // namespace passage::core
