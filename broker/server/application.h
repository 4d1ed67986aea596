#pragma once

// The passage-broker command line: flags and config file -> BrokerOptions, keys, signal handling.

namespace passage::broker {

int RunBrokerMain(int argc, char** argv);

}  // namespace passage::broker
