//! tre-api
