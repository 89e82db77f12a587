//! tre-aws
