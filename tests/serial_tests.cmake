# Tests that run alone, never beside another (CTest's RUN_SERIAL): their assertions bound a time
# that another test's load would stretch. Read by CTest after the discovered tests (tests/CMakeLists.txt).
# A silent rank must be named within --comm-timeout plus 2 s.
set_tests_properties(FaultsRanks.AStoppedRankIsNamedWithinTheCollectiveTimeout
                     PROPERTIES RUN_SERIAL ON)
