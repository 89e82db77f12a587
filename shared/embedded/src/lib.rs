//! tre-embedded
