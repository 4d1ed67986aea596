# Embeds translation catalogs in a C++ source file (run at build time: cmake -P).
#
#   cmake -DROOT=<repository root> -DINPUTS=<a.po>|<b.po> -DOUTPUT=<file.cc> -P embed_po.cmake
#
# Each file becomes a raw string literal R"passage_po(...)passage_po" in the definition of
# passage::web::internal::EmbeddedCatalogs() (services/web/i18n_embedded.h). A file that contains
# the literal's closing sequence )passage_po" would end the literal early, so it fails the build
# instead. The output is rewritten only when it changes, so a touched but unchanged .po does not
# recompile anything.

if(NOT DEFINED ROOT OR NOT DEFINED OUTPUT)
  message(FATAL_ERROR "embed_po.cmake: give -DROOT, -DINPUTS and -DOUTPUT")
endif()

set(delimiter "passage_po")
set(closing ")${delimiter}\"")
string(REPLACE "|" ";" inputs "${INPUTS}")

set(entries "")
foreach(input IN LISTS inputs)
  if(input STREQUAL "")
    continue()
  endif()
  file(READ "${input}" text)
  file(RELATIVE_PATH path "${ROOT}" "${input}")
  string(FIND "${text}" "${closing}" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "${path} contains the text ${closing}, which would end the raw string "
                        "literal it is embedded in; reword that message (embed_po.cmake)")
  endif()
  string(APPEND entries "      {\"${path}\", R\"${delimiter}(${text})${delimiter}\"},\n")
endforeach()

if(entries STREQUAL "")
  set(body "  return {};\n")
else()
  set(body "  static constexpr EmbeddedCatalog kCatalogs[] = {\n${entries}  };\n  return kCatalogs;\n")
endif()

file(WRITE "${OUTPUT}.tmp"
  "// Generated at build time by services/web/po/embed_po.cmake: do not edit. Edit the .po files\n"
  "// in services/web/po instead.\n\n"
  "#include \"services/web/i18n_embedded.h\"\n\n"
  "namespace passage::web::internal {\n\n"
  "std::span<const EmbeddedCatalog> EmbeddedCatalogs() {\n"
  "${body}"
  "}\n\n"
  "}  // namespace passage::web::internal\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
