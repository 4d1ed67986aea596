# passage_target_warnings(target): the project's warning set, errors when PASSAGE_WERROR is on.
function(passage_target_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-unused-parameter)
  if(PASSAGE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
