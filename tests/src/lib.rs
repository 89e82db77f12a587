//! End-to-end tests against the local stack live in tests/.
