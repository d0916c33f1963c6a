# Writes OUT: a C++ table of the numbered migrations in FILES, version taken
# from the leading number of each file name. FILES is separated by '|'.
string(REPLACE "|" ";" FILES "${FILES}")
set(body "// Generated from schema/*.sql; do not edit.\n#include \"store/migrations.hpp\"\nnamespace rs1 {\nconst std::vector<Migration>& migrations() {\n  static const std::vector<Migration> all = {\n")
foreach(f ${FILES})
  get_filename_component(name ${f} NAME)
  string(REGEX MATCH "^[0-9]+" version ${name})
  math(EXPR version "${version}")
  file(READ ${f} sql)
  set(body "${body}    {${version}, \"${name}\", R\"rs1sql(${sql})rs1sql\"},\n")
endforeach()
set(body "${body}  };\n  return all;\n}\n}  // namespace rs1\n")
file(WRITE ${OUT} "${body}")
