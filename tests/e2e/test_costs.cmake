# Read by ctest after the e2e tests are discovered (TEST_INCLUDE_FILES): the longest tests get a
# COST so that `ctest -j` starts them first on a machine that has no timings yet (a fresh CI
# clone). After one run, ctest's own Testing/Temporary/CTestCostData.txt takes over.
# Seconds measured on 2 cores (docs/testing.md). A name ctest does not know (filtered out, not
# built) is ignored.
set(_passage_costs
  "E2eWebhook.EveryCallArrivesOnceInOrderAcrossAnOutageOfTheEndpoint" 670
  "E2eDemo.RunsToCompletionAndPrintsThreeJourneys" 35)
while(_passage_costs)
  list(POP_FRONT _passage_costs _name _cost)
  set_tests_properties("${_name}" PROPERTIES COST ${_cost})
endwhile()
