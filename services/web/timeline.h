#pragma once

// The journey of a case drawn as SVG on the server (no script): one lane per agency, the stages
// as bars with their durations above the lanes, every event a dot on its agency's lane (its words
// in a <title> tooltip), every referral an arrow from the sender's lane to the recipient's,
// coloured by where it ended. Input is the node's journey JSON (core::JourneyToJson).
//
// Thread-safety: pure function.

#include <string>
#include <string_view>

namespace passage::web {

// `words` translates a fixed English text (stage and status names) into the page's language;
// `when` formats a Unix time in ms for a tooltip. Empty string for a journey without events or a
// JSON that does not parse.
std::string JourneySvg(std::string_view journey_json,
                       std::string (*words)(std::string_view english),
                       std::string (*when)(int64_t unix_ms));

// "3 d 4 h", "2 h 5 min", "40 s": a duration for people.
std::string HumanDuration(int64_t ms);

}  // namespace passage::web
