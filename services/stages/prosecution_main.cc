#include "services/stages/stages.h"

int main(int argc, char** argv) {
  return passage::node::NodeMain(argc, argv, "passage-prosecution",
                                 [] { return passage::stages::MakeRecipientLogic("prosecution"); });
}
