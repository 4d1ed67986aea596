#include "services/web/timeline.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <vector>

#include "services/web/web_server.h"

namespace passage::web {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

constexpr int kWidth = 800;
constexpr int kLeft = 170;   // lane names
constexpr int kRight = 20;
constexpr int kLane = 34;    // lane height
constexpr int kStageRow = 18;

const Value* Field(const Struct& s, const char* name) {
  auto it = s.fields().find(name);
  return it == s.fields().end() ? nullptr : &it->second;
}
std::string Str(const Struct& s, const char* name) {
  const Value* v = Field(s, name);
  return v != nullptr && v->has_string_value() ? v->string_value() : std::string();
}
int64_t Ms(const Struct& s, const char* name) {
  const Value* v = Field(s, name);
  return v != nullptr && v->has_number_value() ? static_cast<int64_t>(v->number_value()) : 0;
}
std::vector<const Struct*> List(const Struct& s, const char* name) {
  std::vector<const Struct*> out;
  const Value* v = Field(s, name);
  if (v != nullptr && v->has_list_value()) {
    for (const auto& e : v->list_value().values()) {
      if (e.has_struct_value()) out.push_back(&e.struct_value());
    }
  }
  return out;
}

// "IN_PROGRESS" -> "in progress"
std::string Words(std::string s) {
  for (char& c : s) {
    c = c == '_' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

const char* StatusColour(const std::string& status) {
  if (status == "COMPLETED" || status == "ACCEPTED" || status == "IN_PROGRESS") return "#2a7a3b";
  if (status == "REJECTED" || status == "EXPIRED" || status == "FAILED" || status == "CANCELLED")
    return "#b3261e";
  return "#8a5a00";  // sent, received, on hold: waiting
}

const char* StageColour(const std::string& stage) {
  static const std::map<std::string, const char*> kColours = {
      {"IDENTIFICATION", "#5b7db1"}, {"REFERRAL", "#8a6bb1"},  {"PROTECTION", "#3f9a8a"},
      {"CRIMINAL_JUSTICE", "#b1785b"}, {"RETURN_REINTEGRATION", "#6b9a3f"}, {"CLOSED", "#777777"}};
  auto it = kColours.find(stage);
  return it == kColours.end() ? "#999999" : it->second;
}

std::string Num(double v) {
  char b[32];
  std::snprintf(b, sizeof(b), "%.1f", v);
  return b;
}

}  // namespace

std::string HumanDuration(int64_t ms) {
  if (ms < 0) ms = 0;
  const int64_t s = ms / 1000, m = s / 60, h = m / 60, d = h / 24;
  if (d > 0) return std::to_string(d) + " d " + std::to_string(h % 24) + " h";
  if (h > 0) return std::to_string(h) + " h " + std::to_string(m % 60) + " min";
  if (m > 0) return std::to_string(m) + " min";
  return std::to_string(s) + " s";
}

std::string JourneySvg(std::string_view journey_json,
                       std::string (*words)(std::string_view english),
                       std::string (*when)(int64_t unix_ms)) {
  Struct j;
  if (!google::protobuf::util::JsonStringToMessage(std::string(journey_json), &j).ok()) {
    return {};
  }
  const auto entries = List(j, "entries");
  if (entries.empty()) return {};
  const int64_t t0 = Ms(j, "started_at_ms");
  const int64_t t1 = std::max(Ms(j, "ended_at_ms"), t0 + 1);
  // Lanes in order of first appearance.
  std::vector<std::string> lanes;
  auto lane = [&](const std::string& agency) {
    auto it = std::find(lanes.begin(), lanes.end(), agency);
    if (it != lanes.end()) return static_cast<int>(it - lanes.begin());
    lanes.push_back(agency);
    return static_cast<int>(lanes.size() - 1);
  };
  for (const Struct* e : entries) lane(Str(*e, "agency"));
  const auto referrals = List(j, "referrals");
  for (const Struct* r : referrals) {
    lane(Str(*r, "from_agency"));
    lane(Str(*r, "to_agency"));
  }
  const double span = static_cast<double>(t1 - t0);
  auto x = [&](int64_t t) {
    return kLeft + (kWidth - kLeft - kRight) * static_cast<double>(t - t0) / span;
  };
  const int top = kStageRow * 2 + 8;
  auto y = [&](int l) { return top + kLane * l + kLane / 2; };
  const int height = top + kLane * static_cast<int>(lanes.size()) + 8;

  std::string svg = "<svg class=\"timeline\" role=\"img\" viewBox=\"0 0 " +
                    std::to_string(kWidth) + " " + std::to_string(height) +
                    "\" xmlns=\"http://www.w3.org/2000/svg\"><title>" +
                    Esc(words("Journey")) + "</title>";
  // Stages: one row of bars, with their durations.
  for (const Struct* s : List(j, "stage_intervals")) {
    const std::string stage = Str(*s, "stage");
    const int64_t from = Ms(*s, "from_ms"), to = std::max(Ms(*s, "to_ms"), from);
    const double x0 = x(from), w = std::max(2.0, x(to) - x0);
    const std::string label = words(Words(stage)) + " " + HumanDuration(to - from);
    svg += "<rect x=\"" + Num(x0) + "\" y=\"4\" width=\"" + Num(w) + "\" height=\"" +
           std::to_string(kStageRow) + "\" fill=\"" + StageColour(stage) +
           "\" opacity=\"0.8\"><title>" + Esc(label) + "</title></rect>";
    if (w > 70) {
      svg += "<text x=\"" + Num(x0 + 3) + "\" y=\"17\" font-size=\"11\" fill=\"#fff\">" +
             Esc(label) + "</text>";
    }
  }
  // Lanes.
  for (size_t l = 0; l < lanes.size(); ++l) {
    const int ly = y(static_cast<int>(l));
    svg += "<line x1=\"" + std::to_string(kLeft) + "\" y1=\"" + std::to_string(ly) + "\" x2=\"" +
           std::to_string(kWidth - kRight) + "\" y2=\"" + std::to_string(ly) +
           "\" stroke=\"#ccc\"/><text x=\"4\" y=\"" + std::to_string(ly + 4) +
           "\" font-size=\"12\" fill=\"#1b1b1b\">" + Esc(lanes[l]) + "</text>";
  }
  // Referrals: sender's lane at sending to recipient's lane at its last step.
  for (const Struct* r : referrals) {
    const auto steps = List(*r, "steps");
    if (steps.empty()) continue;
    const int from = lane(Str(*r, "from_agency")), to = lane(Str(*r, "to_agency"));
    const int64_t sent = Ms(*steps.front(), "at_ms");
    const int64_t last = Ms(*steps.back(), "at_ms");
    const std::string status = Str(*r, "status");
    const std::string label = "R" + std::to_string(static_cast<int>(Ms(*r, "number"))) + " " +
                              words(Words(Str(*r, "service"))) + ": " + words(Words(status));
    svg += "<line x1=\"" + Num(x(sent)) + "\" y1=\"" + std::to_string(y(from)) + "\" x2=\"" +
           Num(x(std::max(last, sent))) + "\" y2=\"" + std::to_string(y(to)) + "\" stroke=\"" +
           StatusColour(status) + "\" stroke-width=\"2\"><title>" + Esc(label) +
           "</title></line><text x=\"" + Num(x(std::max(last, sent)) + 4) + "\" y=\"" +
           std::to_string(y(to) - 6) + "\" font-size=\"11\" fill=\"" + StatusColour(status) +
           "\">" + Esc(label) + "</text>";
  }
  // Events.
  for (const Struct* e : entries) {
    const int64_t at = Ms(*e, "at_ms");
    svg += "<circle cx=\"" + Num(x(at)) + "\" cy=\"" + std::to_string(y(lane(Str(*e, "agency")))) +
           "\" r=\"4\" fill=\"#1d3557\"><title>" + Esc(when(at) + ": " + Str(*e, "text")) +
           "</title></circle>";
  }
  return svg + "</svg>";
}

}  // namespace passage::web
