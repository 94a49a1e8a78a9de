#include "auth/access.hpp"

// AllowAllPolicy is header-only; users, tokens and permissions arrive with
// issue 3 and will live in this library.
