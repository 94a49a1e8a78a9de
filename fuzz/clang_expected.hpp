// Force-included (-include) into every file of the clang fuzz build.
//
// libstdc++ 12's <expected> is guarded by `__cpp_concepts >= 202002L`: it
// needs P0848 (conditionally trivial special member functions). clang 16
// implements P0848 but still reports __cpp_concepts as 201907L (the macro was
// raised only in a later release), so <expected> comes out empty and every
// std::expected fails to compile. Raising the macro here, before any header,
// is enough: clang 16 compiles and runs libstdc++ 12's std::expected
// correctly (the fuzz build and its replay of the seed corpora exercise it).
#if defined(__clang__) && __clang_major__ >= 16 && __cpp_concepts < 202002L
#undef __cpp_concepts
#define __cpp_concepts 202002L
#endif
