#include "broker/server/application.h"

int main(int argc, char** argv) { return passage::broker::RunBrokerMain(argc, argv); }
