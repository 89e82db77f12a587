//! tre-auth
