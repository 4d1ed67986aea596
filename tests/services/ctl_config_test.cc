// passagectl config check and keys show over the sample configuration in deploy/config, installed
// into a staging root as an operator would install it (keys made with passagectl keygen, the
// registry filled with their public halves), then broken one way at a time.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "core/text_proto.h"
#include "passage/v1/config.pb.h"
#include "tests/services/ctl_runner.h"
#include "tests/testing/temp_dir.h"

namespace passage::ctl {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Spit(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// Replaces the first occurrence of `from` in a file; fails the test when it is not there.
void Edit(const std::string& path, const std::string& from, const std::string& to) {
  std::string text = Slurp(path);
  size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from << " not in " << path;
  Spit(path, text.replace(at, from.size(), to));
}

// The line of `path` (1-based) on which `needle` first appears.
int LineOf(const std::string& path, const std::string& needle) {
  std::istringstream in(Slurp(path));
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find(needle) != std::string::npos) {
      return n;
    }
  }
  return -1;
}

class ConfigCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    etc_ = root_.path() + "/etc/passage";
    fs::create_directories(etc_ + "/keys");
    fs::create_directories(root_.path() + "/var/lib/passage/broker");
    const std::string src = std::string(PASSAGE_SOURCE_DIR) + "/deploy/config";
    fs::copy(src, etc_, fs::copy_options::recursive);
    v1::AgencyRegistry reg;
    ASSERT_TRUE(core::ParseConfigText(Slurp(etc_ + "/registry.textproto"), "registry", &reg).ok());
    for (auto& a : *reg.mutable_agencies()) {
      CtlRun k = Ctl({"keygen", "--json", "--out", etc_ + "/keys/" + a.id()});
      ASSERT_EQ(k.code, 0) << k.err;
      std::smatch m;
      ASSERT_TRUE(std::regex_search(k.out, m, std::regex("\"transport_public_key\":\"([^\"]+)\"")));
      a.set_transport_public_key(m[1]);
      ASSERT_TRUE(std::regex_search(k.out, m, std::regex("\"sealing_public_key\":\"([^\"]+)\"")));
      if (!a.system_principal() && a.type() != v1::AGENCY_TYPE_OVERSIGHT) {
        a.set_sealing_public_key(m[1]);
      }
    }
    Spit(etc_ + "/registry.textproto", reg.DebugString());
    Spit(etc_ + "/keys/person.secret", std::string(64, 'a') + "\n");
    // The broker's key pair, where broker.textproto says; nodes get its public half only.
    CtlRun b = Ctl({"keygen", "--out", root_.path() + "/var/lib/passage/broker/broker"});
    ASSERT_EQ(b.code, 0) << b.err;
    fs::rename(root_.path() + "/var/lib/passage/broker/broker.curve", BrokerKey());
    CtlRun pub = Ctl({"keys", "show", "--public-only", BrokerKey()});
    ASSERT_EQ(pub.code, 0) << pub.err;
    Spit(etc_ + "/keys/broker.pub", pub.out);
  }

  std::string BrokerKey() const { return root_.path() + "/var/lib/passage/broker/broker.key"; }
  std::string Node(const std::string& id) const { return etc_ + "/nodes/" + id + ".textproto"; }

  CtlRun CheckAll() {
    std::vector<std::string> args = {"config", "check", "--root", root_.path(),
                                     etc_ + "/broker.textproto"};
    for (const auto& e : fs::directory_iterator(etc_ + "/nodes")) {
      args.push_back(e.path().string());
    }
    return Ctl(args);
  }

  testing::TempDir root_;
  std::string etc_;
};

TEST_F(ConfigCheckTest, TheSamplesPassOnceTheKeysAreInPlace) {
  CtlRun r = CheckAll();
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, Not(HasSubstr(": error: ")));
  // Every file a node names was read too: the registry and the router's rules.
  EXPECT_THAT(r.out, HasSubstr("agency registry: 10 agencies"));
  EXPECT_THAT(r.out, HasSubstr("routing rules: 7 rules checked against"));
  EXPECT_THAT(r.out, HasSubstr("node config of dastak-shelter (passage-protection)"));
  EXPECT_THAT(r.out, HasSubstr("node config of fia-ahtc-karachi (passage-identification)"));
  EXPECT_THAT(r.out, HasSubstr("node config of sindh-prosecution (passage-prosecution)"));
  EXPECT_THAT(r.out, HasSubstr("node config of nrm-router (passage-router)"));
  EXPECT_THAT(r.out, HasSubstr("config check: 12 file(s), 0 error(s)"));
}

TEST_F(ConfigCheckTest, EachMistakeIsNamedByFileLineAndField) {
  const std::string dastak = Node("dastak-shelter");
  // Another agency's key pair: the broker would refuse the node.
  Edit(dastak, "keys/dastak-shelter.curve", "keys/panah-shelter.curve");
  // The web workspace open to the network without TLS.
  Edit(dastak, "tls_self_signed: true", "");
  // A misspelt field in another node's file.
  const std::string cpu = Node("sindh-cpu");
  Edit(cpu, "auto_accept: true", "auto_acept: true");
  // A key file that is missing.
  fs::remove(etc_ + "/keys/sindh-police.seal");
  // The broker's secret handed to a node.
  Edit(Node("iom-pakistan"), "/etc/passage/keys/broker.pub", "/var/lib/passage/broker/broker.key");

  CtlRun r = CheckAll();
  EXPECT_EQ(r.code, 2);
  auto line = [&](const std::string& file, const std::string& needle) {
    return file + ":" + std::to_string(LineOf(file, needle)) + ": error: ";
  };
  EXPECT_THAT(r.out, HasSubstr(line(dastak, "secret_key_file") +
                               "secret_key_file: its public key"));
  EXPECT_THAT(r.out, HasSubstr("is not the one the registry lists for dastak-shelter"));
  EXPECT_THAT(r.out, HasSubstr(line(dastak, "listen:") + "http.listen: '0.0.0.0:8444' is "
                                                           "reachable from other machines"));
  EXPECT_THAT(r.out, HasSubstr(line(cpu, "auto_acept") + "does not parse as "
                                                         "passage.v1.NodeConfig"));
  EXPECT_THAT(r.out, HasSubstr("\"auto_acept\""));
  const std::string police = Node("sindh-police");
  EXPECT_THAT(r.out, HasSubstr(line(police, "sealing_key_file") + "sealing_key_file: " +
                               "/etc/passage/keys/sindh-police.seal does not exist"));
  EXPECT_THAT(r.out, HasSubstr("holds a secret key as well"));
  // The others still pass, and say so.
  EXPECT_THAT(r.out, HasSubstr("ok     " + Node("panah-shelter")));
  EXPECT_THAT(r.out, HasSubstr("FAILED " + dastak));
  EXPECT_THAT(r.out, HasSubstr("5 error(s)"));
}

// Webhook endpoints (docs/webhooks.md): a usable one passes; a secret others can read, plain
// http to another machine, an unknown event and a name given twice are each named by line and
// field.
TEST_F(ConfigCheckTest, WebhookMistakesAreNamedByLineAndField) {
  const std::string dastak = Node("dastak-shelter");
  const std::string secret = etc_ + "/keys/dastak-shelter.webhook";
  Spit(secret, std::string(64, 'c') + "\n");
  fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
  Spit(dastak, Slurp(dastak) +
                   "webhooks {\n"
                   "  name: \"case-system\"\n"
                   "  url: \"https://cases.example.org/hooks\"\n"
                   "  secret_file: \"/etc/passage/keys/dastak-shelter.webhook\"\n"
                   "  events: \"state_change\"\n"
                   "}\n");
  CtlRun ok = Ctl({"config", "check", "--root", root_.path(), dastak});
  EXPECT_EQ(ok.code, 0) << ok.out;

  fs::permissions(secret, fs::perms::group_read | fs::perms::others_read, fs::perm_options::add);
  Spit(dastak, Slurp(dastak) +
                   "webhooks {\n"
                   "  name: \"case-system\"\n"
                   "  url: \"http://10.1.2.3/hooks\"\n"
                   "  secret_file: \"/etc/passage/keys/dastak-shelter.webhook\"\n"
                   "  events: \"referral_accepted\"\n"
                   "}\n");
  CtlRun r = Ctl({"config", "check", "--root", root_.path(), dastak});
  EXPECT_EQ(r.code, 2) << r.out;
  auto at = [&](const std::string& needle, int nth) {
    std::istringstream in(Slurp(dastak));
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      const bool comment = line.find_first_not_of(' ') != std::string::npos &&
                           line[line.find_first_not_of(' ')] == '#';
      if (!comment && line.find(needle) != std::string::npos && --nth == 0) {
        return dastak + ":" + std::to_string(n) + ": error: ";
      }
    }
    return std::string("(not found)");
  };
  EXPECT_THAT(r.out, HasSubstr(at("secret_file: \"/etc/passage/keys/dastak-shelter.webhook", 1) +
                               "webhooks[0].secret_file: "));
  EXPECT_THAT(r.out, HasSubstr("can be read by other users: make it mode 0600"));
  EXPECT_THAT(r.out, HasSubstr(at("url: \"http://", 1) + "webhooks[1].url: "));
  EXPECT_THAT(r.out, HasSubstr("must use https://"));
  EXPECT_THAT(r.out, HasSubstr(at("referral_accepted", 1) + "webhooks[1].events[0]: "
                                                           "'referral_accepted' is not a webhook "
                                                           "event"));
  EXPECT_THAT(r.out, HasSubstr(at("name: \"case-system\"", 2) + "webhooks[1].name: "));
  EXPECT_THAT(r.out, HasSubstr("5 error(s)"));
}

TEST_F(ConfigCheckTest, ARuleNoAgencyCanReceiveIsNamedAndTheOthersStillCheck) {
  const std::string rules = etc_ + "/rules.textproto";
  // Nobody in the registry offers legal aid of this type.
  Edit(rules, "agency_types: AGENCY_TYPE_LEGAL_AID", "agency_types: AGENCY_TYPE_COURT");
  CtlRun r = Ctl({"config", "check", "--json", rules, etc_ + "/registry.textproto"});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("\"line\":" +
                               std::to_string(LineOf(rules, "service: SERVICE_TYPE_LEGAL_AID")) +
                               ",\"field\":\"rules[6].service\""));
  EXPECT_THAT(r.out, HasSubstr("no registered agency of type COURT offers LEGAL_AID"));
  EXPECT_THAT(r.out, HasSubstr("\"errors\":1,"));
  EXPECT_THAT(r.out, HasSubstr("(1 cannot be used)"));
}

TEST_F(ConfigCheckTest, KeysShowPrintsPublicHalvesOnly) {
  const std::string curve = etc_ + "/keys/dastak-shelter.curve";
  const std::string seal = etc_ + "/keys/dastak-shelter.seal";
  std::smatch m;
  std::string curve_text = Slurp(curve), seal_text = Slurp(seal);
  ASSERT_TRUE(std::regex_search(curve_text, m, std::regex("secret: (\\S+)")));
  const std::string curve_secret = m[1];
  ASSERT_TRUE(std::regex_search(seal_text, m, std::regex("secret: (\\S+)")));
  const std::string seal_secret = m[1];
  Spit(root_.path() + "/signing.key", std::string(64, '7') + "\n");

  CtlRun r = Ctl({"keys", "show", curve, seal, "--tree-head", root_.path() + "/signing.key"});
  ASSERT_EQ(r.code, 0) << r.err;
  v1::AgencyRegistry reg;
  ASSERT_TRUE(core::ParseConfigText(Slurp(etc_ + "/registry.textproto"), "registry", &reg).ok());
  const v1::Agency& dastak = reg.agencies(3);
  ASSERT_EQ(dastak.id(), "dastak-shelter");
  EXPECT_THAT(r.out, HasSubstr("transport_public_key: \"" + dastak.transport_public_key() + "\""));
  EXPECT_THAT(r.out, HasSubstr("sealing_public_key: \"" + dastak.sealing_public_key() + "\""));
  EXPECT_THAT(r.out, HasSubstr("tree-head signing key (Ed25519)"));
  EXPECT_THAT(r.out, Not(HasSubstr(curve_secret)));
  EXPECT_THAT(r.out, Not(HasSubstr(seal_secret)));
  EXPECT_THAT(r.out, Not(HasSubstr(std::string(64, '7'))));

  // A bare secret with no public half is refused with the reason, not printed.
  CtlRun person = Ctl({"keys", "show", etc_ + "/keys/person.secret"});
  EXPECT_EQ(person.code, 2);
  EXPECT_THAT(person.err, HasSubstr("person.secret"));
  EXPECT_THAT(person.err, HasSubstr("--tree-head"));
  EXPECT_THAT(person.out + person.err, Not(HasSubstr(std::string(64, 'a'))));

  // --public-only makes a key file a node accepts as broker_public_key_file.
  CtlRun pub = Ctl({"keys", "show", "--public-only", curve});
  ASSERT_EQ(pub.code, 0);
  EXPECT_EQ(pub.out, "public: " + dastak.transport_public_key() + "\n");
}

}  // namespace
}  // namespace passage::ctl
