#include "services/stages/stages.h"

int main(int argc, char** argv) {
  return passage::node::NodeMain(argc, argv, "passage-identification",
                                 [] { return passage::stages::MakeIdentificationLogic(); });
}
